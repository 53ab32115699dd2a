import Testing

@testable import ShoalStore

@Suite struct SegmentedArrayTests {
    @Test func behavesLikeAnArray() {
        var segmented = SegmentedArray<Int>()
        var plain: [Int] = []
        for value in 0..<5000 {
            segmented.append(value)
            plain.append(value)
        }
        segmented.swapAt(3, 4000)
        plain.swapAt(3, 4000)
        for _ in 0..<1500 {
            segmented.removeLast()
            plain.removeLast()
        }
        segmented[17] = -1
        plain[17] = -1
        #expect(Array(segmented) == plain)
        #expect(segmented.count == 3500)
    }

    /// A copy (a snapshot's) keeps its contents while the original is written, and a write copies only the
    /// segment it touches.
    @Test func aWriteAfterACopyCopiesOneSegment() {
        var live = SegmentedArray<[UInt8]>()
        for value in 0..<(4 * SegmentedArray<[UInt8]>.segmentCapacity) { live.append([UInt8(value & 0xFF)]) }
        let snapshot = live
        _ = SegmentCopies.take()
        live[5] = [99]
        live[6] = [98]
        // Other suites run at the same time and may copy segments too: at least this one was counted.
        #expect(SegmentCopies.take().copies >= 1)
        #expect(snapshot[5] == [5])
        #expect(snapshot[6] == [6])
        #expect(live[5] == [99])
        live.removeLast()  // the last segment, still shared: copied, the snapshot keeps its element
        #expect(snapshot.count == 4 * SegmentedArray<[UInt8]>.segmentCapacity)
        #expect(snapshot.last == [UInt8((4 * SegmentedArray<[UInt8]>.segmentCapacity - 1) & 0xFF)])
        #expect(Array(snapshot).count == 4 * SegmentedArray<[UInt8]>.segmentCapacity)
    }

    /// Segment memory: page-aligned blocks, reused from the free list, discarded (read back as zeros) once given
    /// back, and carved from a new region when one runs out.
    @Test func pageBlocksAreAlignedReusedAndDiscarded() {
        let blocks = PageBlocks()
        let first = blocks.take()
        #expect(UInt(bitPattern: first) % UInt(PageBlocks.blockBytes) == 0)
        first.initializeMemory(as: UInt8.self, repeating: 0xAB, count: PageBlocks.blockBytes)
        blocks.give(first)
        #expect(blocks.counts == (carved: 1, free: 1))
        let again = blocks.take()
        #expect(again == first)
        let bytes = UnsafeBufferPointer(start: again.assumingMemoryBound(to: UInt8.self), count: PageBlocks.blockBytes)
        #expect(bytes.allSatisfy { $0 == 0 })
        let perRegion = PageBlocks.regionBytes / PageBlocks.blockBytes
        var taken = [again]
        for _ in 0..<perRegion { taken.append(blocks.take()) }
        #expect(Set(taken).count == perRegion + 1)
        #expect(blocks.counts == (carved: perRegion + 1, free: 0))
        for block in taken { blocks.give(block) }
    }
}
