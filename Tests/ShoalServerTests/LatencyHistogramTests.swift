import ShoalPosix
import Testing

@testable import ShoalServer

@Suite struct LatencyHistogramTests {
    /// Every value falls in a bucket whose bounds hold it, within 1/16 of it, and buckets tile the line in order.
    @Test func bucketsHoldTheirValuesWithinASixteenth() {
        var generator = SystemRandomNumberGenerator()
        var values = Array(0..<4096)
        for _ in 0..<20_000 { values.append(Int.random(in: 0..<(1 << 39), using: &generator)) }
        for value in values {
            let bucket = LatencyHistogram.bucket(of: value)
            #expect(LatencyHistogram.lowerBound(of: bucket) <= value)
            #expect(LatencyHistogram.upperBound(of: bucket) >= value)
            #expect(LatencyHistogram.upperBound(of: bucket) - LatencyHistogram.lowerBound(of: bucket) <= max(0, value / 16))
        }
        for bucket in 1..<LatencyHistogram.bucketCount {
            #expect(LatencyHistogram.lowerBound(of: bucket) == LatencyHistogram.upperBound(of: bucket - 1) + 1)
        }
        #expect(LatencyHistogram.bucket(of: Int.max) == LatencyHistogram.bucketCount - 1)
        #expect(LatencyHistogram.bucket(of: -5) == 0)
    }

    @Test func percentilesAndCumulativeCounts() {
        let histogram = LatencyHistogram()
        for value in 1...1000 { histogram.record(nanoseconds: value * 1000) }
        let counts = histogram.snapshot()
        #expect(counts.total == 1000)
        let median = counts.percentile(0.5)
        #expect(median >= 500_000 && median <= 500_000 + 500_000 / 16)
        let p99 = counts.percentile(0.99)
        #expect(p99 >= 990_000 && p99 <= 990_000 + 990_000 / 16)
        #expect(counts.percentile(1) >= 1_000_000)
        #expect(counts.count(atMost: 1_000_000 + 1_000_000 / 16) == 1000)
        #expect(counts.count(atMost: 0) == 0)
        histogram.reset()
        #expect(histogram.snapshot().total == 0)
        #expect(HistogramCounts().percentile(0.5) == 0)
    }

    /// Many threads recording into one shared histogram lose nothing (ThreadSanitizer watches the counters).
    @Test func sharedRecordingFromManyThreads() throws {
        let histogram = LatencyHistogram()
        try concurrently(4) { _ in
            for value in 0..<10_000 { histogram.recordShared(nanoseconds: value) }
        }
        #expect(histogram.snapshot().total == 40_000)
    }
}
