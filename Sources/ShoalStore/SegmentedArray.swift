import CShoalPosix
import Synchronization

/// An array kept in fixed segments of `segmentCapacity` elements, each copied on write by itself.
///
/// Why: a snapshot copies every `ShardTable` (O(1): the arrays are shared), and the first write into a shared
/// array copies all of it. With one flat node array, a shard of 78,000 keys copied 5 MB (and retained every
/// node's references) on its first write after a BGSAVE started; uniform writes touch all 64 shards within
/// milliseconds, so a writer paid for the whole dataset in one burst (192 ms seen at 5M keys). In segments, a
/// write copies only the 64 KB segment it touches (and the small array of segment references).
///
/// Every copy a writer pays is timed into `SegmentCopies`, the honest writer-visible cost of a snapshot that
/// INFO reports next to the lock pause.
struct SegmentedArray<Element>: RandomAccessCollection, MutableCollection, @unchecked Sendable {
    static var segmentShift: Int { 10 }
    static var segmentCapacity: Int { 1 << segmentShift }
    static var segmentMask: Int { segmentCapacity - 1 }

    /// One segment: a header (its element count) and up to `segmentCapacity` elements inline.
    final class Segment: ManagedBuffer<Int, Element> {
        static func make() -> Segment {
            unsafeDowncast(create(minimumCapacity: segmentCapacity) { _ in 0 }, to: Segment.self)
        }

        /// A freed segment's pages go back to the system at once, by the thread that drops the segment (for a
        /// snapshot's copies, the save thread). malloc_trim did this at the end of each save and stalled the event
        /// loops for as long as it walked their arenas under their locks: 134 ms worst SET at 5M keys, against
        /// 14 ms without it (bench/compare.sh snapshot).
        deinit {
            _ = withUnsafeMutablePointers { count, elements in
                elements.deinitialize(count: count.pointee)
                cshoal_release_pages(elements, SegmentedArray.segmentCapacity * MemoryLayout<Element>.stride)
            }
        }

        /// A private copy (retaining what the elements reference), timed for `SegmentCopies`.
        func clone() -> Segment {
            let started = ContinuousClock.now
            let copy = Segment.make()
            withUnsafeMutablePointers { count, elements in
                copy.withUnsafeMutablePointers { copyCount, copyElements in
                    copyElements.initialize(from: elements, count: count.pointee)
                    copyCount.pointee = count.pointee
                }
            }
            SegmentCopies.note(ContinuousClock.now - started)
            return copy
        }
    }

    private var segments: [Segment] = []
    /// Each segment's first element, kept beside `segments` so that reading an element is two loads and no
    /// reference counting (reading a class reference out of `segments` would retain and release it: measured,
    /// +13% instructions per pipelined GET). Valid while `segments` holds the segment.
    private var bases: [UnsafeMutablePointer<Element>] = []
    private(set) var count = 0

    init() {}

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    subscript(index: Int) -> Element {
        @inline(__always)
        get { bases[index >> Self.segmentShift][index & Self.segmentMask] }
        @inline(__always)
        _modify {
            let segment = index >> Self.segmentShift
            makeUnique(segment)
            yield &bases[segment][index & Self.segmentMask]
        }
    }

    /// Where element `index` lives, to read it in place: valid until the array is next mutated.
    @inline(__always)
    func address(of index: Int) -> UnsafePointer<Element> {
        UnsafePointer(bases[index >> Self.segmentShift] + (index & Self.segmentMask))
    }

    @inline(__always)
    private mutating func makeUnique(_ segment: Int) {
        if !isKnownUniquelyReferenced(&segments[segment]) {
            segments[segment] = segments[segment].clone()
            bases[segment] = segments[segment].withUnsafeMutablePointerToElements { $0 }
        }
    }

    mutating func append(_ element: Element) {
        let segment = count >> Self.segmentShift
        if segment == segments.count {
            segments.append(Segment.make())
            bases.append(segments[segment].withUnsafeMutablePointerToElements { $0 })
        }
        makeUnique(segment)
        segments[segment].withUnsafeMutablePointers { segmentCount, elements in
            (elements + segmentCount.pointee).initialize(to: element)
            segmentCount.pointee += 1
        }
        count += 1
    }

    mutating func removeLast() {
        precondition(count > 0, "removeLast on an empty SegmentedArray")
        let segment = (count - 1) >> Self.segmentShift
        makeUnique(segment)
        let emptied = segments[segment].withUnsafeMutablePointers { segmentCount, elements -> Bool in
            segmentCount.pointee -= 1
            (elements + segmentCount.pointee).deinitialize(count: 1)
            return segmentCount.pointee == 0
        }
        count -= 1
        if emptied {
            segments.removeLast()
            bases.removeLast()
        }
    }

    mutating func swapAt(_ first: Int, _ second: Int) {
        guard first != second else { return }
        let held = self[first]
        self[first] = self[second]
        self[second] = held
    }
}

/// What writers paid copying segments that a snapshot shared: the count and the longest single copy, since
/// the last `reset` (the snapshotter resets when a save starts and reads when it ends).
public enum SegmentCopies {
    static let copies = Atomic<Int>(0)
    static let longestNanoseconds = Atomic<Int64>(0)

    static func note(_ duration: Duration) {
        copies.add(1, ordering: .relaxed)
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        var current = longestNanoseconds.load(ordering: .relaxed)
        while nanoseconds > current {
            let (exchanged, original) = longestNanoseconds.compareExchange(
                expected: current, desired: nanoseconds, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
    }

    /// (copies, longest in microseconds) since the last reset, and resets.
    public static func take() -> (copies: Int, longestMicroseconds: Int64) {
        (copies.exchange(0, ordering: .relaxed), longestNanoseconds.exchange(0, ordering: .relaxed) / 1000)
    }
}
