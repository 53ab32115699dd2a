import CShoalPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Counts of durations in nanoseconds, in log-linear buckets (as HdrHistogram does): exact below 16 ns, then
/// 16 buckets per power of two, so any recorded value is known within 1/16 (6%). 592 buckets reach 2^40 ns
/// (18 minutes); longer durations land in the last one. Counters are relaxed atomics in plain memory: one
/// writer per histogram (`record`) or many (`recordShared`), read from anywhere (`snapshot`).
public final class LatencyHistogram: @unchecked Sendable {
    public static let bucketCount = 592
    private static let subBits = 4

    private let counts: UnsafeMutablePointer<Int>
    /// Keeps the arena the counts live in, if any.
    private let arena: HistogramArena?

    public init() {
        counts = .allocate(capacity: Self.bucketCount)
        counts.initialize(repeating: 0, count: Self.bucketCount)
        arena = nil
    }

    /// A histogram whose counts are the `index`th slice of `arena`.
    init(in arena: HistogramArena, index: Int) {
        counts = arena.base + index * Self.bucketCount
        self.arena = arena
    }

    deinit { if arena == nil { counts.deallocate() } }

    /// `count` histograms in one anonymous mapping: pages of histograms never recorded into are never touched,
    /// so they cost no memory (one per command per event loop, most of them unused).
    public static func many(_ count: Int) -> [LatencyHistogram] {
        let arena = HistogramArena(histograms: count)
        return (0..<count).map { LatencyHistogram(in: arena, index: $0) }
    }

    @inline(__always)
    public static func bucket(of nanoseconds: Int) -> Int {
        let value = max(0, nanoseconds)
        if value < 1 << subBits { return value }
        let octave = min(Int.bitWidth - 1 - value.leadingZeroBitCount, 39)
        let shift = octave - subBits
        let mantissa = min(value >> shift, (1 << (subBits + 1)) - 1)
        return (shift << subBits) + mantissa
    }

    /// The largest value that falls in `bucket` (what a percentile reports, as HdrHistogram's
    /// highest-equivalent value).
    public static func upperBound(of bucket: Int) -> Int {
        if bucket < 1 << subBits { return bucket }
        let shift = (bucket >> subBits) - 1
        let mantissa = bucket - (shift << subBits)
        return ((mantissa + 1) << shift) - 1
    }

    /// The smallest value that falls in `bucket`.
    public static func lowerBound(of bucket: Int) -> Int {
        if bucket < 1 << subBits { return bucket }
        let shift = (bucket >> subBits) - 1
        return (bucket - (shift << subBits)) << shift
    }

    /// Records one duration; only one thread may call this on a given histogram.
    @inline(__always)
    public func record(nanoseconds: Int) { cshoal_counter_add_owned(counts + Self.bucket(of: nanoseconds), 1) }

    /// Records one duration from any thread.
    @inline(__always)
    public func recordShared(nanoseconds: Int) { cshoal_counter_add_shared(counts + Self.bucket(of: nanoseconds), 1) }

    /// The counts now (each bucket read atomically; buckets recorded meanwhile may or may not be included).
    public func snapshot() -> HistogramCounts {
        HistogramCounts((0..<Self.bucketCount).map { cshoal_counter_load(counts + $0) })
    }

    public func reset() {
        // Only buckets that hold something: a store to an untouched page would make it resident.
        for index in 0..<Self.bucketCount where cshoal_counter_load(counts + index) != 0 {
            cshoal_counter_store(counts + index, 0)
        }
    }
}

/// A histogram's counts, for sums across threads and for reading percentiles.
public struct HistogramCounts: Sendable, Equatable {
    public private(set) var buckets: [Int]

    public init(_ buckets: [Int] = [Int](repeating: 0, count: LatencyHistogram.bucketCount)) { self.buckets = buckets }

    public var total: Int { buckets.reduce(0, +) }

    public static func + (lhs: HistogramCounts, rhs: HistogramCounts) -> HistogramCounts {
        HistogramCounts(zip(lhs.buckets, rhs.buckets).map { $0 + $1 })
    }

    /// The value at or below which `fraction` (0...1) of the recorded durations lie, as its bucket's upper bound.
    public func percentile(_ fraction: Double) -> Int {
        let total = self.total
        guard total > 0 else { return 0 }
        let wanted = max(1, Int((fraction * Double(total)).rounded(.up)))
        var seen = 0
        for (index, count) in buckets.enumerated() {
            seen += count
            if seen >= wanted { return LatencyHistogram.upperBound(of: index) }
        }
        return LatencyHistogram.upperBound(of: buckets.count - 1)
    }

    /// How many durations were at most `nanoseconds` (buckets whose lower bound is at most it).
    public func count(atMost nanoseconds: Int) -> Int {
        var total = 0
        for (index, count) in buckets.enumerated() where LatencyHistogram.lowerBound(of: index) <= nanoseconds {
            total += count
        }
        return total
    }
}

/// Zero-filled memory from the kernel for many histograms, resident only where written.
final class HistogramArena: @unchecked Sendable {
    let base: UnsafeMutablePointer<Int>
    private let bytes: Int

    init(histograms: Int) {
        bytes = max(1, histograms) * LatencyHistogram.bucketCount * MemoryLayout<Int>.stride
        let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(mapped != MAP_FAILED && mapped != nil, "mmap of histogram memory failed")
        base = mapped!.bindMemory(to: Int.self, capacity: bytes / MemoryLayout<Int>.stride)
    }

    deinit { munmap(base, bytes) }
}
