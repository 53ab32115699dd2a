import CShoalPosix
import Glibc
import ShoalPosix
import Synchronization

/// An array kept in fixed segments of `segmentCapacity` elements, each copied on write by itself.
///
/// Why: a snapshot copies every `ShardTable` (O(1): the arrays are shared), and the first write into a shared
/// array copies all of it. With one flat node array, a shard of 78,000 keys copied 5 MB (and retained every
/// node's references) on its first write after a BGSAVE started; uniform writes touch all 64 shards within
/// milliseconds, so a writer paid for the whole dataset in one burst (192 ms seen at 5M keys). In segments, a
/// write copies only the segment it touches (and the small array of segment references).
///
/// Why a segment is one page (64 nodes): under uniform writes every segment is copied once during a save, so
/// the size does not change the total copied, but it sets how fast the copying comes. With 64 KB segments
/// nearly every SET in the first second of a save copied one, into fresh pages the kernel had to zero (22% of
/// the loop's CPU then, perf): 50 queued SETs at ~100 µs each put the probe's mean SET at 7 ms and its worst
/// at 12-14 ms. A 4 KB copy costs about what the fork's copy-on-write fault costs Redis, and the copying
/// spreads over the save (bench/compare.sh snapshot: worst SET 8.3-9.4 ms, none over 10 ms).
///
/// Every copy a writer pays is timed into `SegmentCopies`, the honest writer-visible cost of a snapshot that
/// INFO reports next to the lock pause.
struct SegmentedArray<Element>: RandomAccessCollection, MutableCollection, @unchecked Sendable {
    static var segmentShift: Int { 6 }
    static var segmentCapacity: Int { 1 << segmentShift }
    static var segmentMask: Int { segmentCapacity - 1 }

    /// One segment: its element count and a page (`PageBlocks`) holding up to `segmentCapacity` elements.
    final class Segment {
        let elements: UnsafeMutablePointer<Element>
        var count = 0

        init() {
            precondition(
                SegmentedArray.segmentCapacity * MemoryLayout<Element>.stride <= PageBlocks.blockBytes
                    && MemoryLayout<Element>.alignment <= PageBlocks.blockBytes,
                "a segment's elements must fit one page block")
            elements = PageBlocks.shared.take().bindMemory(to: Element.self, capacity: SegmentedArray.segmentCapacity)
        }

        /// A freed segment's page goes back to the system at once, by the thread that drops the segment (for a
        /// snapshot's copies, the save thread). malloc_trim did this at the end of each save and stalled the event
        /// loops for as long as it walked their arenas under their locks: 134 ms worst SET at 5M keys, against
        /// 14 ms without it (bench/compare.sh snapshot).
        deinit {
            elements.deinitialize(count: count)
            PageBlocks.shared.give(UnsafeMutableRawPointer(elements))
        }

        /// A private copy (retaining what the elements reference), timed for `SegmentCopies`.
        func clone() -> Segment {
            let started = ContinuousClock.now
            let copy = Segment()
            copy.elements.initialize(from: elements, count: count)
            copy.count = count
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
            bases[segment] = segments[segment].elements
        }
    }

    mutating func append(_ element: Element) {
        let segment = count >> Self.segmentShift
        if segment == segments.count {
            segments.append(Segment())
            bases.append(segments[segment].elements)
        }
        makeUnique(segment)
        let target = segments[segment]
        (target.elements + target.count).initialize(to: element)
        target.count += 1
        count += 1
    }

    mutating func removeLast() {
        precondition(count > 0, "removeLast on an empty SegmentedArray")
        let segment = (count - 1) >> Self.segmentShift
        makeUnique(segment)
        let target = segments[segment]
        target.count -= 1
        (target.elements + target.count).deinitialize(count: 1)
        count -= 1
        if target.count == 0 {
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

/// The memory of segments: page-sized, page-aligned blocks carved from 2 MB regions, with a free list kept
/// outside the blocks (as addresses). A block given back is discarded (MADV_DONTNEED) first, so a save's freed copies leave RSS
/// at once; a block taken from the list is mapped again, zeroed, on first touch. Blocks do not come from malloc
/// one by one because a freed malloc chunk has its bookkeeping written into its first bytes, which maps the
/// page straight back (and only whole pages strictly inside a chunk can be discarded). Regions come from malloc,
/// so LeakSanitizer scans them for the references that nodes hold; `shared`'s are never freed.
final class PageBlocks: Sendable {
    static let shared = PageBlocks()
    static let blockBytes = 4096
    static let regionBytes = 2 << 20
    /// Whether a block is a whole number of pages, so it can be discarded (not on systems with bigger pages).
    private static let discards = Int(sysconf(Int32(_SC_PAGESIZE))) <= blockBytes

    private struct Pool {
        var free: [UInt] = []
        var regions: [UInt] = []
        var next: UInt = 0
        var left = 0
    }

    /// A pthread mutex (`Locked`), which ThreadSanitizer sees; `Synchronization.Mutex` locks with futex calls it
    /// does not, and every take and give was reported as a race.
    private let pool = Locked(Pool())

    /// Frees the regions: only for a pool whose blocks are all back (tests make their own).
    deinit {
        pool.withLock { pool in
            for region in pool.regions { free(UnsafeMutableRawPointer(bitPattern: region)) }
        }
    }

    func take() -> UnsafeMutableRawPointer {
        let address = pool.withLock { pool -> UInt in
            if let block = pool.free.popLast() { return block }
            if pool.left == 0 {
                var region: UnsafeMutableRawPointer?
                guard posix_memalign(&region, Self.blockBytes, Self.regionBytes) == 0, let region else {
                    fatalError("out of memory: a \(Self.regionBytes)-byte region for segments")
                }
                pool.regions.append(UInt(bitPattern: region))
                pool.next = UInt(bitPattern: region)
                pool.left = Self.regionBytes / Self.blockBytes
            }
            let block = pool.next
            pool.next += UInt(Self.blockBytes)
            pool.left -= 1
            return block
        }
        return UnsafeMutableRawPointer(bitPattern: address)!
    }

    /// Takes back a block taken from this pool; its contents are discarded.
    func give(_ block: UnsafeMutableRawPointer) {
        if Self.discards { cshoal_discard_pages(block, Self.blockBytes) }
        let address = UInt(bitPattern: block)
        pool.withLock { $0.free.append(address) }
    }

    /// (blocks carved, blocks on the free list), for tests.
    var counts: (carved: Int, free: Int) {
        pool.withLock { ($0.regions.count * Self.regionBytes / Self.blockBytes - $0.left, $0.free.count) }
    }
}
