/// One shard's keys: a chained hash table laid out in three flat arrays.
///
/// - `nodes` holds every key densely (a removal moves the last node into the hole), so a uniformly random key
///   is one random index: that is what eviction, RANDOMKEY and the expiry cycle sample from.
/// - `buckets` (a power of two) holds the first node of each chain; chains link through `Node.next`.
///   Because a key's bucket depends only on its hash and the table size, SCAN can walk buckets with Redis's
///   reverse-binary cursor (`dictScan`), which never misses a key that is present for the whole scan, even when
///   the table grows or shrinks between calls.
/// - `volatileNodes` lists the nodes that carry a deadline, so the expiry cycle samples only those.
///
/// All three are Swift arrays, so copying a `ShardTable` is O(1) and the first write after a copy pays for
/// one copy of that shard: the basis of point-in-time snapshots without fork.
///
/// Not thread-safe by itself: `Keyspace` guards each table with its shard's read-write lock.
public struct ShardTable: Sendable {
    struct Node: Sendable {
        var key: Key
        var entry: Entry
        var next: Int32
        var volatileSlot: Int32
    }

    private var buckets: [Int32]
    private var nodes: [Node] = []
    private var volatileNodes: [Int32] = []
    /// Access statistics by node index (LRU clock, LFU counter), atomics updated by readers. A copy of the
    /// table (a snapshot) shares this object with the live table and must not read it.
    private var access: AccessMetadata
    /// Estimated heap bytes of the entries (keys, values, nodes, metadata); see `entryBytes`.
    private var entryBytes = 0
    /// Keys this table removed because their deadline had passed (lazily or by the active cycle).
    public private(set) var expiredCount = 0

    static let minimumBuckets = 8

    public init(policy: AccessPolicy = AccessPolicy()) {
        buckets = [Int32](repeating: -1, count: Self.minimumBuckets)
        access = AccessMetadata(policy: policy)
    }

    // MARK: - Memory accounting

    /// What the heap holds for this table, estimated from the sizes malloc hands out: each key and value is a
    /// Swift array (32-byte header + bytes, in 16-byte chunks with malloc's 8-byte header), plus the node, its
    /// metadata slot and the bucket array.
    public var usedBytes: Int { entryBytes + buckets.count * MemoryLayout<Int32>.stride }

    @inline(__always)
    static func allocationBytes(_ capacity: Int) -> Int { capacity == 0 ? 0 : (capacity + 32 + 8 + 15) & ~15 }

    @inline(__always)
    static func valueBytes(_ value: Value) -> Int {
        switch value {
        case .string(let bytes): return allocationBytes(bytes.capacity)
        }
    }

    /// The bytes one key costs (what MEMORY USAGE reports).
    public static func entryBytes(key: Key, value: Value) -> Int {
        allocationBytes(key.bytes.capacity) + valueBytes(value) + MemoryLayout<Node>.stride + 8
            + 2 * MemoryLayout<Int32>.stride  // its share of buckets and volatile slots
    }

    /// `usedBytes` recomputed from scratch (tests check the incremental accounting against it).
    func recomputedUsedBytes() -> Int {
        nodes.reduce(0) { $0 + Self.entryBytes(key: $1.key, value: $1.entry.value) } + buckets.count * MemoryLayout<Int32>.stride
    }

    public func memoryUsage(at index: Int) -> Int { Self.entryBytes(key: nodes[index].key, value: nodes[index].entry.value) }

    // MARK: - Access statistics

    /// Records a read or write of the key at `index` (LRU clock or LFU counter). Safe under a read lock.
    @inline(__always)
    public func touch(at index: Int, now: Milliseconds) { access.touch(index, now: now, hash: nodes[index].key.hash) }

    /// The raw access slot of the key at `index` (OBJECT IDLETIME/FREQ, eviction scores).
    public func accessSlot(at index: Int) -> UInt64 { access.load(index) }

    public var accessPolicy: AccessPolicy { access.policy }

    public var count: Int { nodes.count }
    public var isEmpty: Bool { nodes.isEmpty }
    /// How many keys carry a deadline.
    public var volatileCount: Int { volatileNodes.count }
    public var bucketCount: Int { buckets.count }

    @inline(__always)
    private func bucket(for hash: UInt64) -> Int { Int(truncatingIfNeeded: hash) & (buckets.count - 1) }

    // MARK: - Lookup

    /// The node index holding `key`, whether or not it has expired.
    @inline(__always)
    public func find(_ key: KeyView) -> Int? {
        var index = buckets[bucket(for: key.hash)]
        while index >= 0 {
            if key.matches(nodes[Int(index)].key) { return Int(index) }
            index = nodes[Int(index)].next
        }
        return nil
    }

    /// The node index holding `key` if it is alive at `now`. For readers: an expired key is invisible at once,
    /// and left for a writer or the active cycle to remove.
    @inline(__always)
    public func lookup(_ key: KeyView, now: Milliseconds) -> Int? {
        guard let index = peek(key, now: now) else { return nil }
        access.touch(index, now: now, hash: key.hash)
        return index
    }

    /// `lookup` without recording an access (TYPE, EXISTS, TTL, OBJECT: Redis's LOOKUP_NOTOUCH).
    @inline(__always)
    public func peek(_ key: KeyView, now: Milliseconds) -> Int? {
        guard let index = find(key), !nodes[index].entry.isExpired(at: now) else { return nil }
        return index
    }

    /// For writers: like `lookup`, but an expired key is removed on the spot (Redis's `expireIfNeeded`).
    @inline(__always)
    public mutating func lookupForWrite(_ key: KeyView, now: Milliseconds) -> Int? {
        guard let index = find(key) else { return nil }
        if nodes[index].entry.isExpired(at: now) {
            remove(at: index)
            expiredCount += 1
            return nil
        }
        access.touch(index, now: now, hash: key.hash)
        return index
    }

    @inline(__always) public func entry(at index: Int) -> Entry { nodes[index].entry }
    @inline(__always) public func key(at index: Int) -> Key { nodes[index].key }

    /// Reads the value in place, without copying it out of the table.
    @inline(__always)
    public func withValue<R>(at index: Int, _ body: (borrowing Value) -> R) -> R { body(nodes[index].entry.value) }

    // MARK: - Mutation

    /// Inserts a key known to be absent (call `lookupForWrite` first). Returns its node index.
    @discardableResult
    public mutating func insert(_ key: Key, _ entry: Entry) -> Int {
        if nodes.count >= buckets.count { rehash(to: buckets.count * 2) }
        let index = nodes.count
        let bucketIndex = bucket(for: key.hash)
        entryBytes += Self.entryBytes(key: key, value: entry.value)
        nodes.append(Node(key: key, entry: entry, next: buckets[bucketIndex], volatileSlot: -1))
        buckets[bucketIndex] = Int32(index)
        if entry.expiresAt != 0 { addVolatile(index) }
        access.reserve(nodes.count)
        access.store(index, AccessMetadata.fresh(now: currentTimeMilliseconds()))
        return index
    }

    /// Sets `key` to `entry`, replacing any value and deadline. Returns the node index.
    @discardableResult
    public mutating func set(_ key: KeyView, _ entry: Entry) -> Int {
        if let index = find(key) {
            replace(at: index, with: entry)
            return index
        }
        return insert(key.owned(), entry)
    }

    /// Replaces the value at `index`, keeping its deadline.
    @inline(__always)
    public mutating func setValue(at index: Int, _ value: Value) {
        entryBytes += Self.valueBytes(value) - Self.valueBytes(nodes[index].entry.value)
        nodes[index].entry.value = value
    }

    /// Lets `body` change the value in place (APPEND, SETRANGE), without a second copy of the bytes.
    @inline(__always)
    public mutating func modifyValue<R>(at index: Int, _ body: (inout Value) -> R) -> R {
        let before = Self.valueBytes(nodes[index].entry.value)
        let result = body(&nodes[index].entry.value)
        entryBytes += Self.valueBytes(nodes[index].entry.value) - before
        return result
    }

    /// Replaces value and deadline at `index`.
    public mutating func replace(at index: Int, with entry: Entry) {
        setValue(at: index, entry.value)
        setExpiry(at: index, entry.expiresAt)
    }

    /// Sets (or with 0 clears) the deadline of the key at `index`.
    public mutating func setExpiry(at index: Int, _ deadline: Milliseconds) {
        let slot = nodes[index].volatileSlot
        if deadline != 0 && slot < 0 {
            addVolatile(index)
        } else if deadline == 0 && slot >= 0 {
            removeVolatile(slot: Int(slot))
        }
        nodes[index].entry.expiresAt = deadline
    }

    /// Removes the key at `index` and returns it with its entry. The last node moves into `index`.
    @discardableResult
    public mutating func remove(at index: Int) -> (key: Key, entry: Entry) {
        relink(index, hash: nodes[index].key.hash, to: nodes[index].next)
        let slot = nodes[index].volatileSlot
        if slot >= 0 { removeVolatile(slot: Int(slot)) }
        let last = nodes.count - 1
        if index != last {
            relink(last, hash: nodes[last].key.hash, to: Int32(index))
            nodes.swapAt(index, last)
            access.store(index, access.load(last))
            let movedSlot = nodes[index].volatileSlot
            if movedSlot >= 0 { volatileNodes[Int(movedSlot)] = Int32(index) }
        }
        let removed = nodes.removeLast()
        entryBytes -= Self.entryBytes(key: removed.key, value: removed.entry.value)
        if buckets.count > Self.minimumBuckets && nodes.count * 8 < buckets.count {
            rehash(to: max(Self.minimumBuckets, Self.powerOfTwo(atLeast: nodes.count * 2)))
        }
        return (removed.key, removed.entry)
    }

    /// Removes `key` if present (expired or not) and returns its entry.
    @discardableResult
    public mutating func remove(_ key: KeyView) -> Entry? {
        guard let index = find(key) else { return nil }
        return remove(at: index).entry
    }

    public mutating func removeAll() {
        buckets = [Int32](repeating: -1, count: Self.minimumBuckets)
        nodes = []
        volatileNodes = []
        entryBytes = 0
        access = AccessMetadata(policy: access.policy)
    }

    /// Records expirations done on this table from outside (the active cycle removes through `remove(at:)`).
    public mutating func noteExpired(_ count: Int) { expiredCount += count }

    // MARK: - Iteration and sampling

    /// Calls `body` with each node index, in storage order.
    public func forEachIndex(_ body: (Int) throws -> Void) rethrows {
        for index in nodes.indices { try body(index) }
    }

    /// Visits one bucket and returns the next cursor (0 when the walk is complete), as Redis's `dictScan`:
    /// the cursor is incremented in reversed bit order so that growing or shrinking the table between calls
    /// never skips a bucket that was not yet visited.
    public func scan(cursor: UInt64, _ body: (Int) -> Void) -> UInt64 {
        let mask = UInt64(buckets.count - 1)
        var index = buckets[Int(cursor & mask)]
        while index >= 0 {
            body(Int(index))
            index = nodes[Int(index)].next
        }
        var next = cursor | ~mask
        next = Self.reverseBits(next)
        next &+= 1
        return Self.reverseBits(next)
    }

    /// A uniformly random node index, or nil when empty.
    public func randomIndex<G: RandomNumberGenerator>(using generator: inout G) -> Int? {
        nodes.isEmpty ? nil : Int.random(in: 0..<nodes.count, using: &generator)
    }

    /// A uniformly random index among keys that carry a deadline.
    public func randomVolatileIndex<G: RandomNumberGenerator>(using generator: inout G) -> Int? {
        volatileNodes.isEmpty
            ? nil : Int(volatileNodes[Int.random(in: 0..<volatileNodes.count, using: &generator)])
    }

    // MARK: - Internals

    /// Points whatever links to node `index` (a bucket head or a predecessor's `next`) at `target`.
    private mutating func relink(_ index: Int, hash: UInt64, to target: Int32) {
        let bucketIndex = bucket(for: hash)
        var current = buckets[bucketIndex]
        if current == Int32(index) {
            buckets[bucketIndex] = target
            return
        }
        while current >= 0 {
            let next = nodes[Int(current)].next
            if next == Int32(index) {
                nodes[Int(current)].next = target
                return
            }
            current = next
        }
        preconditionFailure("ShardTable: node \(index) is not linked from its bucket")
    }

    private mutating func addVolatile(_ index: Int) {
        nodes[index].volatileSlot = Int32(volatileNodes.count)
        volatileNodes.append(Int32(index))
    }

    private mutating func removeVolatile(slot: Int) {
        let node = Int(volatileNodes[slot])
        let last = volatileNodes.count - 1
        if slot != last {
            let moved = volatileNodes[last]
            volatileNodes[slot] = moved
            nodes[Int(moved)].volatileSlot = Int32(slot)
        }
        volatileNodes.removeLast()
        nodes[node].volatileSlot = -1
    }

    private mutating func rehash(to size: Int) {
        buckets = [Int32](repeating: -1, count: size)
        let mask = size - 1
        for index in nodes.indices {
            let bucketIndex = Int(truncatingIfNeeded: nodes[index].key.hash) & mask
            nodes[index].next = buckets[bucketIndex]
            buckets[bucketIndex] = Int32(index)
        }
    }

    static func powerOfTwo(atLeast value: Int) -> Int {
        value <= 1 ? 1 : 1 << (Int.bitWidth - (value - 1).leadingZeroBitCount)
    }

    @inline(__always)
    static func reverseBits(_ value: UInt64) -> UInt64 {
        var v = value
        v = ((v >> 1) & 0x5555_5555_5555_5555) | ((v & 0x5555_5555_5555_5555) << 1)
        v = ((v >> 2) & 0x3333_3333_3333_3333) | ((v & 0x3333_3333_3333_3333) << 2)
        v = ((v >> 4) & 0x0F0F_0F0F_0F0F_0F0F) | ((v & 0x0F0F_0F0F_0F0F_0F0F) << 4)
        return v.byteSwapped
    }
}
