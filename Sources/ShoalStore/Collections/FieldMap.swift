/// The hash table behind big hashes and sets: fields (with their values; a set's are empty) in segments of at
/// most `segmentLimit` entries, found through a directory indexed by the low bits of the field's hash
/// (extendible hashing).
///
/// Why segments: a snapshot shares the collection with the live table, and the first write after it has to
/// copy what it changes. Here that is the directory's segment list and one segment, never the whole
/// collection: a write into a 1M-field hash during a BGSAVE copies a bounded chunk, as a forked Redis copies
/// one page. Growing is bounded the same way: a full segment splits in two (doubling the small directory when
/// needed), so no write ever rehashes the whole table.
///
/// HSCAN/SSCAN walk directory slots in Redis's reverse-binary order (`dictScan`): when the directory doubles
/// between calls, slot `s` becomes `s` and `s + size`, which that order visits without skipping anything.
public struct FieldMap: Sendable {
    private var storage: Storage

    /// A segment splits when an insert would take it past this many entries.
    static let segmentLimit = 512

    public init() { storage = Storage() }

    public var count: Int { storage.count }

    /// Estimated heap bytes: the segments' hash tables and each entry's allocation.
    public var allocatedBytes: Int { storage.bytes }

    /// Lends the value of `field` (nil when absent).
    public func withValue<R>(_ field: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        let probe = Entry(field: field)
        let segment = storage.segments[Int(storage.directory[storage.slot(probe.hash)])]
        guard let index = segment.entries.firstIndex(of: probe) else { return body(nil) }
        return segment.entries[index].withValue(body)
    }

    public func contains(_ field: UnsafeRawBufferPointer) -> Bool {
        let probe = Entry(field: field)
        return storage.segments[Int(storage.directory[storage.slot(probe.hash)])].entries.contains(probe)
    }

    /// Sets `field` to `value`; true when the field is new.
    @discardableResult
    public mutating func set(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
        makeUnique()
        return storage.set(Entry(field: field, value: value))
    }

    /// Removes `field`; false when absent.
    @discardableResult
    public mutating func remove(_ field: UnsafeRawBufferPointer) -> Bool {
        let probe = Entry(field: field)
        guard storage.segments[Int(storage.directory[storage.slot(probe.hash)])].entries.contains(probe) else {
            return false
        }
        makeUnique()
        storage.remove(probe)
        return true
    }

    /// Calls `body` with each field and value.
    public func forEach(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        for segment in storage.segments {
            for entry in segment.entries { entry.withParts(body) }
        }
    }

    /// Visits the entries of one directory slot and returns the next cursor (0: the walk is done).
    public func scan(cursor: UInt64, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) -> UInt64 {
        let mask = UInt64(storage.directory.count - 1)
        let slot = Int(cursor & mask)
        for entry in storage.segments[Int(storage.directory[slot])].entries
        where Int(UInt64(entry.hash) & mask) == slot {
            entry.withParts(body)
        }
        return ShardTable.nextScanCursor(cursor, mask: mask)
    }

    /// A uniformly random entry's field and value, owned; nil when empty.
    public func randomEntry<G: RandomNumberGenerator>(using generator: inout G) -> (field: [UInt8], value: [UInt8])? {
        guard storage.count > 0 else { return nil }
        var position = Int.random(in: 0..<storage.count, using: &generator)
        for segment in storage.segments {
            if position < segment.entries.count {
                let entry = segment.entries[segment.entries.index(segment.entries.startIndex, offsetBy: position)]
                return entry.withParts { (Array($0), Array($1)) }
            }
            position -= segment.entries.count
        }
        return nil
    }

    /// Each segment's table identity, to see which segments two copies still share (tests).
    func segmentIdentities() -> [UInt] { storage.segments.map { unsafeBitCast($0.entries, to: UInt.self) } }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(copying: storage) }
    }

    // MARK: - Storage

    /// One field and its value in one allocation, with the field's length and hash. Equality and hashing look
    /// at the field only, so a probe (a field without value) finds the entry.
    struct Entry: Hashable, Sendable {
        let bytes: [UInt8]
        let fieldLength: UInt32
        let hash: UInt32

        init(field: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) {
            let size = field.count + value.count
            bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
                let target = UnsafeMutableRawBufferPointer(buffer)
                if field.count > 0 { target.baseAddress!.copyMemory(from: field.baseAddress!, byteCount: field.count) }
                if value.count > 0 {
                    (target.baseAddress! + field.count).copyMemory(from: value.baseAddress!, byteCount: value.count)
                }
                initialized = size
            }
            fieldLength = UInt32(field.count)
            hash = UInt32(truncatingIfNeeded: hashKey(field))
        }

        func hash(into hasher: inout Hasher) { hasher.combine(hash) }

        static func == (lhs: Entry, rhs: Entry) -> Bool {
            guard lhs.hash == rhs.hash, lhs.fieldLength == rhs.fieldLength else { return false }
            return lhs.withParts { left, _ in rhs.withParts { right, _ in left.elementsEqual(right) } }
        }

        @inline(__always)
        func withParts<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> R) -> R {
            bytes.withUnsafeBytes { raw in
                let split = Int(fieldLength)
                return body(
                    UnsafeRawBufferPointer(rebasing: raw[..<split]), UnsafeRawBufferPointer(rebasing: raw[split...]))
            }
        }

        func withValue<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R { withParts { _, value in body(value) } }

        var allocatedBytes: Int { allocationBytes(bytes.capacity) }
    }

    struct Segment: Sendable {
        var entries = Set<Entry>()
        /// How many low hash bits all of this segment's entries share (its directory slots agree on them).
        var depth = 0

        /// What the segment's own table costs: 16-byte slots at Swift's 3/4 load, its bitmap and header.
        var tableBytes: Int {
            guard entries.capacity > 0 else { return 0 }
            let buckets = entries.capacity * 4 / 3
            return buckets * MemoryLayout<Entry>.stride + buckets / 8 + 64
        }
    }

    final class Storage: @unchecked Sendable {
        // Only ever changed by the one writer that holds the shard's write lock, after `makeUnique`.
        var directory: [Int32] = [0]
        var segments: [Segment] = [Segment()]
        var count = 0
        var bytes = 0

        init() {}

        init(copying other: Storage) {
            directory = other.directory
            segments = other.segments
            count = other.count
            bytes = other.bytes
        }

        @inline(__always)
        func slot(_ hash: UInt32) -> Int { Int(hash) & (directory.count - 1) }

        func set(_ entry: Entry) -> Bool {
            var target = Int(directory[slot(entry.hash)])
            if segments[target].entries.count >= FieldMap.segmentLimit, !segments[target].entries.contains(entry),
                segments[target].depth < 32
            {
                split(target)
                target = Int(directory[slot(entry.hash)])
            }
            let before = segments[target].tableBytes
            let replaced = segments[target].entries.update(with: entry)
            bytes += segments[target].tableBytes - before + entry.allocatedBytes - (replaced?.allocatedBytes ?? 0)
            if replaced == nil { count += 1 }
            return replaced == nil
        }

        func remove(_ probe: Entry) {
            let target = Int(directory[slot(probe.hash)])
            let before = segments[target].tableBytes
            guard let removed = segments[target].entries.remove(probe) else { return }
            if segments[target].entries.capacity > 64 && segments[target].entries.count * 4 < segments[target].entries.capacity {
                segments[target].entries = Set(segments[target].entries)
            }
            bytes += segments[target].tableBytes - before - removed.allocatedBytes
            count -= 1
        }

        /// Splits segment `index` on its next hash bit, doubling the directory first when it is as deep.
        private func split(_ index: Int) {
            let depth = segments[index].depth
            if 1 << depth == directory.count { directory += directory }
            let bit = UInt32(1) << UInt32(depth)
            let before = segments[index].tableBytes
            var stay = Set<Entry>(minimumCapacity: segments[index].entries.count / 2 + 1)
            var move = Set<Entry>(minimumCapacity: segments[index].entries.count / 2 + 1)
            for entry in segments[index].entries {
                if entry.hash & bit == 0 { stay.insert(entry) } else { move.insert(entry) }
            }
            segments[index] = Segment(entries: stay, depth: depth + 1)
            let moved = Segment(entries: move, depth: depth + 1)
            let newIndex = Int32(segments.count)
            segments.append(moved)
            bytes += segments[index].tableBytes + moved.tableBytes - before
            for slot in directory.indices where directory[slot] == Int32(index) && UInt32(slot) & bit != 0 {
                directory[slot] = newIndex
            }
        }
    }
}
