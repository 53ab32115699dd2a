#if canImport(Glibc)
    import Glibc
#endif

/// Redis's order of a sorted set: by score, then by member bytes (`sdscmp`).
@inline(__always)
public func zsetPrecedes(_ score: Double, _ member: UnsafeRawBufferPointer, _ otherScore: Double, _ other: UnsafeRawBufferPointer)
    -> Bool
{
    if score != otherScore { return score < otherScore }
    return compareBytes(member, other) < 0
}

/// memcmp over the shorter length, then the shorter first (Redis's sdscmp).
@inline(__always)
public func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let common = min(a.count, b.count)
    if common > 0 {
        let result = memcmp(a.baseAddress!, b.baseAddress!, common)
        if result != 0 { return Int(result) }
    }
    return a.count - b.count
}

/// A sorted set in Redis 7.0's two encodings: `packed` (listpack: member, score, ... in order) up to
/// `zset-max-listpack-entries` members of at most `zset-max-listpack-value` bytes, then `table` for good.
///
/// Positions are ranks (0 = lowest score). Every operation answers in the set's order, whatever the encoding.
public enum SortedSetValue: Sendable {
    case packed(PackedList)
    case table(SortedTable)

    public init() { self = .packed(PackedList()) }

    public var count: Int {
        switch self {
        case .packed(let list): return list.count / 2
        case .table(let table): return table.count
        }
    }

    public var encodingName: String {
        switch self {
        case .packed: return "listpack"
        case .table: return "skiplist"
        }
    }

    public var allocatedBytes: Int {
        switch self {
        case .packed(let list): return list.allocatedBytes
        case .table(let table): return table.allocatedBytes
        }
    }

    private static let placeholder = SortedSetValue.packed(PackedList())

    // MARK: - Members

    public func score(of member: UnsafeRawBufferPointer) -> Double? {
        switch self {
        case .packed(let list):
            guard let offset = list.find(member, stride: 2) else { return nil }
            let next = list.element(at: offset) { _ in () }.next
            return list.element(at: next) { Self.decodeScore($0) }.0
        case .table(let table):
            return table.score(of: member)
        }
    }

    /// Sets `member`'s score (adding it when new), converting past `limits`. True when the member is new.
    @discardableResult
    public mutating func set(_ member: UnsafeRawBufferPointer, score: Double, limits: EncodingLimits) -> Bool {
        if case .packed(let list) = self,
            member.count > limits.zsetMaxListpackValue
                || (list.count / 2 >= limits.zsetMaxListpackEntries && self.score(of: member) == nil)
        {
            convertToTable()
        }
        switch self {
        case .packed(var list):
            self = Self.placeholder
            var added = true
            if let offset = list.find(member, stride: 2) {
                list.replace(from: offset, removing: 2, with: [])
                added = false
            }
            // Insert before the first pair that sorts after (score, member).
            var insertAt: Int?
            var position = 0
            var pendingMember: UnsafeRawBufferPointer?
            var pendingOffset = 0
            list.forEach { offset, element in
                defer { position += 1 }
                if position % 2 == 0 {
                    pendingMember = element
                    pendingOffset = offset
                    return true
                }
                if zsetPrecedes(score, member, Self.decodeScore(element), pendingMember!) {
                    insertAt = pendingOffset
                    return false
                }
                return true
            }
            Self.withEncodedScore(score) { encoded in
                list.replace(from: insertAt ?? list.byteCount, removing: 0, with: [member, encoded])
            }
            self = .packed(list)
            return added
        case .table(var table):
            self = Self.placeholder
            let added = table.set(member, score: score)
            self = .table(table)
            return added
        }
    }

    /// Removes `member`; false when absent.
    @discardableResult
    public mutating func remove(_ member: UnsafeRawBufferPointer) -> Bool {
        switch self {
        case .packed(var list):
            guard let offset = list.find(member, stride: 2) else { return false }
            self = Self.placeholder
            list.replace(from: offset, removing: 2, with: [])
            self = .packed(list)
            return true
        case .table(var table):
            guard table.score(of: member) != nil else { return false }
            self = Self.placeholder
            table.remove(member)
            self = .table(table)
            return true
        }
    }

    /// The 0-based rank of `member`, lowest score first; nil when absent.
    public func rank(of member: UnsafeRawBufferPointer) -> Int? {
        switch self {
        case .packed(let list):
            var rank: Int?
            var position = 0
            list.forEach { _, element in
                defer { position += 1 }
                if position % 2 == 0 && element.count == member.count && element.elementsEqual(member) {
                    rank = position / 2
                    return false
                }
                return true
            }
            return rank
        case .table(let table):
            return table.rank(of: member)
        }
    }

    /// Calls `body` with (rank, member, score) from rank `start`, ascending or (`reverse`) descending, until it
    /// returns false.
    public func forEach(
        from start: Int, reverse: Bool = false, _ body: (Int, UnsafeRawBufferPointer, Double) -> Bool
    ) {
        guard start >= 0, start < count else { return }
        switch self {
        case .packed(let list):
            // Small: gather the pairs once (at most zset-max-listpack-entries).
            var pairs: [(member: UnsafeRawBufferPointer, score: Double)] = []
            var pending: UnsafeRawBufferPointer?
            list.forEach { _, element in
                if let member = pending {
                    pairs.append((member, Self.decodeScore(element)))
                    pending = nil
                } else {
                    pending = element
                }
                return true
            }
            // The buffer outlives `pairs`: a packed list's bytes are immutable and `list` holds them.
            withExtendedLifetime(list) {
                var rank = start
                while rank >= 0 && rank < pairs.count {
                    if !body(rank, pairs[rank].member, pairs[rank].score) { return }
                    rank += reverse ? -1 : 1
                }
            }
        case .table(let table):
            table.forEach(from: start, reverse: reverse, body)
        }
    }

    /// The rank of the first member (ascending) whose score is above `minimum` (or at least it, when
    /// inclusive); `count` when none.
    public func firstRank(scoreAbove minimum: Double, inclusive: Bool) -> Int {
        switch self {
        case .packed:
            var found = count
            forEach(from: 0) { rank, _, score in
                if inclusive ? score >= minimum : score > minimum {
                    found = rank
                    return false
                }
                return true
            }
            return found
        case .table(let table):
            return table.firstRank { inclusive ? $0.score >= minimum : $0.score > minimum }
        }
    }

    /// The rank of the first member (ascending) that sorts after `minimum` (or equal to it, when inclusive),
    /// comparing members only: ZRANGEBYLEX, meaningful when all scores are equal, as in Redis.
    public func firstRank(memberAbove minimum: UnsafeRawBufferPointer, inclusive: Bool) -> Int {
        switch self {
        case .packed:
            var found = count
            forEach(from: 0) { rank, member, _ in
                let order = compareBytes(member, minimum)
                if inclusive ? order >= 0 : order > 0 {
                    found = rank
                    return false
                }
                return true
            }
            return found
        case .table(let table):
            return table.firstRank { entry in
                entry.member.withUnsafeBytes { member in
                    let order = compareBytes(member, minimum)
                    return inclusive ? order >= 0 : order > 0
                }
            }
        }
    }

    /// Every (member, score), owned, in order.
    public var entries: [(member: [UInt8], score: Double)] {
        var result: [(member: [UInt8], score: Double)] = []
        result.reserveCapacity(count)
        forEach(from: 0) { _, member, score in
            result.append((Array(member), score))
            return true
        }
        return result
    }

    /// Builds a sorted set from `entries` (a snapshot's record, a STORE command's result).
    public init(entries: [(member: [UInt8], score: Double)], limits: EncodingLimits) {
        self.init()
        for (member, score) in entries { member.withUnsafeBytes { _ = set($0, score: score, limits: limits) } }
    }

    /// Converts a packed set to the table (SORT does this to its source, as Redis 7.0's zsetConvert).
    public mutating func convertToTable() {
        guard case .packed = self else { return }
        var table = SortedTable()
        forEach(from: 0) { _, member, score in
            table.set(member, score: score)
            return true
        }
        self = .table(table)
    }

    // MARK: - Scores in the packed encoding: 8 bytes, the double's bits little-endian

    static func decodeScore(_ bytes: UnsafeRawBufferPointer) -> Double {
        Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
    }

    static func withEncodedScore<R>(_ score: Double, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: score.bitPattern.littleEndian) { body($0) }
    }
}

/// The table behind big sorted sets: members in score order in chunks of at most 128 (parallel arrays of
/// scores and members), a Fenwick tree over the chunks' counts for O(log n) ranks, and a `FieldMap` from member
/// to score for O(1) ZSCORE. Like the other collections, a write after a snapshot copy copies the chunk list
/// and the chunk it touches (and the map's segment), never the whole set.
public struct SortedTable: Sendable {
    private var storage: Storage

    static let chunkLimit = 128

    public init() { storage = Storage() }

    public var count: Int { storage.scores.count }
    public var allocatedBytes: Int { storage.bytes + storage.scores.allocatedBytes }

    public func score(of member: UnsafeRawBufferPointer) -> Double? {
        storage.scores.withValue(member) { $0.map { SortedSetValue.decodeScore($0) } }
    }

    @discardableResult
    mutating func set(_ member: UnsafeRawBufferPointer, score: Double) -> Bool {
        makeUnique()
        return storage.set(member, score: score)
    }

    mutating func remove(_ member: UnsafeRawBufferPointer) {
        makeUnique()
        storage.remove(member)
    }

    func rank(of member: UnsafeRawBufferPointer) -> Int? {
        guard let score = score(of: member) else { return nil }
        let (chunk, offset) = storage.position(of: score, member)
        return storage.prefix(chunk) + offset
    }

    func forEach(from start: Int, reverse: Bool, _ body: (Int, UnsafeRawBufferPointer, Double) -> Bool) {
        var (chunk, offset) = storage.locate(rank: start)
        var rank = start
        while chunk >= 0 && chunk < storage.chunks.count {
            let current = storage.chunks[chunk]
            while offset >= 0 && offset < current.members.count {
                let go = current.members[offset].withUnsafeBytes { body(rank, $0, current.scores[offset]) }
                if !go { return }
                rank += reverse ? -1 : 1
                offset += reverse ? -1 : 1
            }
            chunk += reverse ? -1 : 1
            offset = reverse && chunk >= 0 ? storage.chunks[chunk].members.count - 1 : 0
        }
    }

    /// The first rank whose entry satisfies `predicate` (which must be false then true along the order).
    func firstRank(_ predicate: ((score: Double, member: [UInt8])) -> Bool) -> Int {
        let chunks = storage.chunks
        var low = 0
        var high = chunks.count
        while low < high {
            let middle = (low + high) / 2
            let last = chunks[middle].members.count - 1
            if predicate((chunks[middle].scores[last], chunks[middle].members[last])) { high = middle } else { low = middle + 1 }
        }
        guard low < chunks.count else { return count }
        var offset = 0
        while offset < chunks[low].members.count
            && !predicate((chunks[low].scores[offset], chunks[low].members[offset]))
        {
            offset += 1
        }
        return storage.prefix(low) + offset
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(copying: storage) }
    }

    /// Where each chunk's scores are: tests check which chunks two copies still share.
    func chunkAddresses() -> [UnsafeRawPointer?] {
        storage.chunks.map { $0.scores.withUnsafeBytes { $0.baseAddress } }
    }

    struct Chunk: Sendable {
        var scores: [Double] = []
        var members: [[UInt8]] = []

        var allocatedBytes: Int {
            members.reduce(0) { $0 + allocationBytes($1.capacity) } + allocationBytes(scores.capacity * 8)
                + allocationBytes(members.capacity * 8)
        }
    }

    final class Storage: @unchecked Sendable {
        // Only changed by the one writer holding the shard's write lock, after `makeUnique`.
        var chunks: [Chunk] = []
        /// Fenwick tree over `chunks[i].members.count`, 1-based.
        var tree: [Int32] = [0]
        var scores = FieldMap()
        var bytes = 0

        init() {}

        init(copying other: Storage) {
            chunks = other.chunks
            tree = other.tree
            scores = other.scores
            bytes = other.bytes
        }

        func prefix(_ chunk: Int) -> Int {
            var sum = 0
            var index = chunk
            while index > 0 {
                sum += Int(tree[index])
                index -= index & -index
            }
            return sum
        }

        private func add(_ chunk: Int, _ delta: Int) {
            var index = chunk + 1
            while index < tree.count {
                tree[index] += Int32(delta)
                index += index & -index
            }
        }

        private func rebuildTree() {
            tree = [Int32](repeating: 0, count: chunks.count + 1)
            for index in 1...max(1, chunks.count) where index <= chunks.count {
                tree[index] += Int32(chunks[index - 1].members.count)
                let parent = index + (index & -index)
                if parent <= chunks.count { tree[parent] += tree[index] }
            }
        }

        /// The chunk and offset of rank `rank` (0 ..< count).
        func locate(rank: Int) -> (Int, Int) {
            var position = 0
            var remaining = rank
            var step = 1
            while step * 2 <= chunks.count { step *= 2 }
            while step > 0 {
                let next = position + step
                if next <= chunks.count && Int(tree[next]) <= remaining {
                    position = next
                    remaining -= Int(tree[next])
                }
                step /= 2
            }
            return (position, remaining)
        }

        /// Where (score, member) is or would go: the chunk (the first whose last entry doesn't precede it) and
        /// the offset in it.
        func position(of score: Double, _ member: UnsafeRawBufferPointer) -> (Int, Int) {
            var low = 0
            var high = chunks.count
            while low < high {
                let middle = (low + high) / 2
                let last = chunks[middle].members.count - 1
                let precedes = chunks[middle].members[last].withUnsafeBytes {
                    zsetPrecedes(chunks[middle].scores[last], $0, score, member)
                }
                if precedes { low = middle + 1 } else { high = middle }
            }
            if low == chunks.count { return chunks.isEmpty ? (0, 0) : (chunks.count - 1, chunks[chunks.count - 1].members.count) }
            var lowOffset = 0
            var highOffset = chunks[low].members.count
            while lowOffset < highOffset {
                let middle = (lowOffset + highOffset) / 2
                let precedes = chunks[low].members[middle].withUnsafeBytes {
                    zsetPrecedes(chunks[low].scores[middle], $0, score, member)
                }
                if precedes { lowOffset = middle + 1 } else { highOffset = middle }
            }
            return (low, lowOffset)
        }

        func set(_ member: UnsafeRawBufferPointer, score: Double) -> Bool {
            let old = scores.withValue(member) { $0.map { SortedSetValue.decodeScore($0) } }
            if let old {
                if old == score { return false }
                removeEntry(member, score: old)
            }
            SortedSetValue.withEncodedScore(score) { _ = scores.set(member, $0) }
            insertEntry(member, score: score)
            return old == nil
        }

        func remove(_ member: UnsafeRawBufferPointer) {
            guard let old = scores.withValue(member, { $0.map { SortedSetValue.decodeScore($0) } }) else { return }
            removeEntry(member, score: old)
            scores.remove(member)
        }

        private func change(_ chunk: Int, _ body: (inout Chunk) -> Void) {
            bytes -= chunks[chunk].allocatedBytes
            body(&chunks[chunk])
            bytes += chunks[chunk].allocatedBytes
        }

        private func insertEntry(_ member: UnsafeRawBufferPointer, score: Double) {
            if chunks.isEmpty {
                // No chunk is ever empty: the first entry comes with its chunk.
                let first = Chunk(scores: [score], members: [Array(member)])
                chunks.append(first)
                bytes += first.allocatedBytes
                rebuildTree()
                return
            }
            var (chunk, offset) = position(of: score, member)
            if chunks[chunk].members.count >= SortedTable.chunkLimit {
                // Split in halves; the entry then goes into the half that holds its position.
                let half = chunks[chunk].members.count / 2
                var upper = Chunk()
                change(chunk) { full in
                    upper.scores = Array(full.scores[half...])
                    upper.members = Array(full.members[half...])
                    full.scores.removeSubrange(half...)
                    full.members.removeSubrange(half...)
                }
                chunks.insert(upper, at: chunk + 1)
                bytes += upper.allocatedBytes
                rebuildTree()
                if offset > half {
                    chunk += 1
                    offset -= half
                } else if offset == half {
                    // Either chunk can take it; the lower one, at its end.
                }
            }
            change(chunk) {
                $0.scores.insert(score, at: offset)
                $0.members.insert(Array(member), at: offset)
            }
            add(chunk, 1)
        }

        private func removeEntry(_ member: UnsafeRawBufferPointer, score: Double) {
            let (chunk, offset) = position(of: score, member)
            change(chunk) {
                $0.scores.remove(at: offset)
                $0.members.remove(at: offset)
            }
            if chunks[chunk].members.isEmpty {
                bytes -= chunks[chunk].allocatedBytes
                chunks.remove(at: chunk)
                rebuildTree()
            } else {
                add(chunk, -1)
            }
        }
    }
}
