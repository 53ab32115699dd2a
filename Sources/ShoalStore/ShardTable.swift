#if canImport(Glibc)
    import Glibc
#endif

/// One shard's keys: a chained hash table laid out in three flat arrays.
///
/// - `nodes` holds every key densely (a removal moves the last node into the hole), so a uniformly random key
///   is one random index: that is what eviction, RANDOMKEY and the expiry cycle sample from.
/// - `buckets` (a power of two) holds the first node of each chain; chains link through `Node.next`.
///   Because a key's bucket depends only on its hash and the table size, SCAN can walk buckets with Redis's
///   reverse-binary cursor (`dictScan`), which never misses a key that is present for the whole scan, even when
///   the table grows or shrinks between calls.
/// - `deadlines` holds the deadline of each node that has one (and the node's index), so the expiry cycle
///   samples only those, and a key without a deadline pays nothing for the possibility.
///
/// Copying a `ShardTable` is O(1) (the storage is shared), the basis of point-in-time snapshots without fork.
/// `nodes` is a `SegmentedArray`: the first write into a segment the copy shares copies that segment only
/// (64 nodes, one 4 KB page), not the shard. `buckets` and `deadlines` are plain arrays (4 and 16 bytes per
/// key), copied whole on the first write that changes them.
///
/// Not thread-safe by itself: `Keyspace` guards each table with its shard's read-write lock.
public struct ShardTable: Sendable {
    /// One key, in 64 bytes. Short keys and values live inside the node itself (`inline`, 38 bytes shared by
    /// key then value): a lookup that hits touches the bucket and one node, and a small key costs no allocation
    /// at all. What does not fit (a long key, a long string, every collection) is in `spill`; the deadline, when
    /// there is one, is in `deadlines[volatileSlot]`.
    struct Node: Sendable {
        var hash: UInt64
        var next: Int32
        var volatileSlot: Int32
        var inline: InlineBytes
        var spill: Spill?

        /// The key, when it is too long to be inline.
        var longKey: [UInt8]? {
            get {
                switch spill {
                case .key(let key): return key
                case .both(let both): return both.key
                case .value, nil: return nil
                }
            }
            set { spill = Spill(key: newValue, value: longValue) }
        }

        /// The value, when it is not an inline string.
        var longValue: Value? {
            get {
                switch spill {
                case .value(let value): return value
                case .both(let both): return both.value
                case .key, nil: return nil
                }
            }
            set { spill = Spill(key: longKey, value: newValue) }
        }
    }

    /// A node's out-of-line parts in one pointer: the value, the key, or (both long, rare) a box of both.
    enum Spill: Sendable {
        case value(Value)
        case key([UInt8])
        case both(LongKeyAndValue)

        init?(key: [UInt8]?, value: Value?) {
            switch (key, value) {
            case (nil, nil): return nil
            case (nil, let value?): self = .value(value)
            case (let key?, nil): self = .key(key)
            case (let key?, let value?): self = .both(LongKeyAndValue(key: key, value: value))
            }
        }

        /// Heap bytes of the box itself (its contents are counted by the caller).
        var boxBytes: Int { if case .both = self { return 48 } else { return 0 } }
    }

    /// Never changed once made: a snapshot may share it.
    final class LongKeyAndValue: Sendable {
        let key: [UInt8]
        let value: Value
        init(key: [UInt8], value: Value) {
            self.key = key
            self.value = value
        }
    }

    /// A deadline and the node it belongs to.
    struct Deadline: Sendable {
        var node: Int32
        var at: Milliseconds
    }

    private var buckets: [Int32]
    private var nodes = SegmentedArray<Node>()
    private var deadlines: [Deadline] = []
    /// Access statistics by node index (LRU clock, LFU counter), atomics updated by readers. A copy of the
    /// table (a snapshot) shares this object with the live table and must not read it.
    private var access: AccessMetadata
    /// Estimated heap bytes of the entries (nodes, metadata, out-of-line keys and values); see `entryBytes`.
    private var entryBytes = 0
    /// Keys this table removed because their deadline had passed (lazily or by the active cycle).
    public private(set) var expiredCount = 0
    /// Who hears about modifications of this table's keys (WATCH today); nil while nobody listens. It stays
    /// with the shard: a flush keeps it, SWAPDB puts it back (`Keyspace.swapDatabases`).
    var observer: KeyObserver?
    /// The keyspace's feed of every change (client tracking, notifications), and this table's database for it;
    /// both stay with the shard like `observer`.
    var feed: ChangeFeed?
    var database = 0

    static let minimumBuckets = 8

    public init(policy: AccessPolicy = AccessPolicy()) {
        buckets = [Int32](repeating: -1, count: Self.minimumBuckets)
        access = AccessMetadata(policy: policy)
    }

    // MARK: - Memory accounting

    /// What the heap holds for this table: each node (with its inline bytes), its access slot, its share of
    /// buckets and volatile slots, and the allocations of keys and values too long to be inline (a Swift array
    /// is a 32-byte header + bytes, in 16-byte chunks with malloc's 8-byte header).
    public var usedBytes: Int { entryBytes + buckets.count * MemoryLayout<Int32>.stride }

    @inline(__always)
    static func allocationBytes(_ capacity: Int) -> Int { ShoalStore.allocationBytes(capacity) }

    @inline(__always)
    static func valueBytes(_ value: Value?) -> Int {
        switch value {
        case .string(let bytes): return allocationBytes(bytes.capacity)
        case .hash(let hash): return hash.allocatedBytes
        case .set(let set): return set.allocatedBytes
        case .list(let list): return list.allocatedBytes
        case .sortedSet(let zset): return zset.allocatedBytes
        case nil: return 0
        }
    }

    /// A node, its access slot and its share of the buckets. A deadline adds a `Deadline`; the rare box of a
    /// long key with a long value (`Spill.both`) is not counted.
    static let nodeOverhead = MemoryLayout<Node>.stride + MemoryLayout<UInt32>.stride + MemoryLayout<Int32>.stride

    @inline(__always)
    static func entryBytes(_ node: borrowing Node) -> Int {
        nodeOverhead + (node.volatileSlot >= 0 ? MemoryLayout<Deadline>.stride : 0)
            + allocationBytes(node.longKey?.capacity ?? 0) + valueBytes(node.longValue)
    }

    /// `usedBytes` recomputed from scratch (tests check the incremental accounting against it).
    func recomputedUsedBytes() -> Int {
        nodes.reduce(0) { $0 + Self.entryBytes($1) } + buckets.count * MemoryLayout<Int32>.stride
    }

    /// The bytes the key at `index` costs (what MEMORY USAGE reports).
    public func memoryUsage(at index: Int) -> Int { Self.entryBytes(nodes[index]) }

    // MARK: - Access statistics

    /// Records a read or write of the key at `index` (LRU clock or LFU counter). Safe under a read lock.
    @inline(__always)
    public func touch(at index: Int, now: Milliseconds) { access.touch(index, now: now, hash: nodes[index].hash) }

    /// The raw access slot of the key at `index` (OBJECT IDLETIME/FREQ, eviction scores).
    public func accessSlot(at index: Int) -> UInt64 { access.load(index) }

    public var accessPolicy: AccessPolicy { access.policy }

    /// RESTORE's IDLETIME (seconds, under an LRU policy) or FREQ (the LFU counter, under an LFU policy), as
    /// Redis's objectSetLRUOrLFU: the one that doesn't match the policy is ignored.
    public func restoreAccess(at index: Int, idleSeconds: Int64?, frequency: Int?, now: Milliseconds) {
        switch access.policy.tracking {
        case .lru:
            if let idleSeconds {
                let (idle, overflow) = idleSeconds.multipliedReportingOverflow(by: 1000)
                access.store(index, AccessMetadata.lruStamp(overflow ? 0 : now &- idle))
            }
        case .lfu:
            if let frequency { access.store(index, UInt64(frequency) | AccessMetadata.lfuMinutes(now) << 8) }
        }
    }

    public var count: Int { nodes.count }
    public var isEmpty: Bool { nodes.isEmpty }
    /// How many keys carry a deadline.
    public var volatileCount: Int { deadlines.count }
    public var bucketCount: Int { buckets.count }

    @inline(__always)
    private func bucket(for hash: UInt64) -> Int { Int(truncatingIfNeeded: hash) & (buckets.count - 1) }

    // MARK: - Lookup

    /// The node index holding `key`, whether or not it has expired.
    @inline(__always)
    public func find(_ key: KeyView) -> Int? {
        var index = buckets[bucket(for: key.hash)]
        while index >= 0 {
            if nodes[Int(index)].hash == key.hash && keyEquals(Int(index), key.bytes) { return Int(index) }
            index = nodes[Int(index)].next
        }
        return nil
    }

    @inline(__always)
    private func keyEquals(_ index: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        withKeyBytes(at: index) { stored in
            stored.count == bytes.count
                && (bytes.count == 0 || memcmp(stored.baseAddress!, bytes.baseAddress!, bytes.count) == 0)
        }
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
        guard let index = find(key), !isExpired(at: index, now: now) else { return nil }
        return index
    }

    /// For writers: like `lookup`, but an expired key is removed on the spot (Redis's `expireIfNeeded`).
    @inline(__always)
    public mutating func lookupForWrite(_ key: KeyView, now: Milliseconds) -> Int? {
        guard let index = find(key) else { return nil }
        if isExpired(at: index, now: now) {
            remove(at: index, change: .expired)
            expiredCount += 1
            return nil
        }
        access.touch(index, now: now, hash: key.hash)
        return index
    }

    // MARK: - Reading a key

    /// The deadline of the key at `index` (0: none).
    @inline(__always)
    public func expiresAt(at index: Int) -> Milliseconds {
        let slot = nodes[index].volatileSlot
        return slot < 0 ? 0 : deadlines[Int(slot)].at
    }

    @inline(__always)
    public func isExpired(at index: Int, now: Milliseconds) -> Bool {
        let slot = nodes[index].volatileSlot
        return slot >= 0 && deadlines[Int(slot)].at <= now
    }

    /// Lends the key's bytes, in place.
    @inline(__always)
    public func withKeyBytes<R, E: Error>(at index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R
    {
        let length = nodes[index].inline.keyLength
        if length != InlineBytes.outOfLine {
            return try nodes[index].inline.withBytes(from: 0, count: Int(length), body)
        }
        return try nodes[index].longKey.unsafelyUnwrapped.withUnsafeBytesTyped(body)
    }

    /// The key at `index` as an owned `Key` (allocates; for SCAN, eviction candidates, RANDOMKEY).
    public func key(at index: Int) -> Key { Key(bytes: withKeyBytes(at: index) { Array($0) }, hash: nodes[index].hash) }

    /// Whether the value at `index` is a string (inline, or out of line in `longValue` as every other type).
    @inline(__always)
    public func isString(at index: Int) -> Bool {
        if nodes[index].inline.valueLength != InlineBytes.outOfLine { return true }
        if case .string = nodes[index].longValue.unsafelyUnwrapped { return true }
        return false
    }

    /// The hash at `index`, or nil when the value is of another type.
    @inline(__always)
    public func asHash(at index: Int) -> HashValue? {
        guard nodes[index].inline.valueLength == InlineBytes.outOfLine,
            case .hash(let hash) = nodes[index].longValue.unsafelyUnwrapped
        else { return nil }
        return hash
    }

    /// The set at `index`, or nil when the value is of another type.
    @inline(__always)
    public func asSet(at index: Int) -> SetValue? {
        guard nodes[index].inline.valueLength == InlineBytes.outOfLine,
            case .set(let set) = nodes[index].longValue.unsafelyUnwrapped
        else { return nil }
        return set
    }

    /// What TYPE reports for the value at `index`.
    public func typeName(at index: Int) -> String { isString(at: index) ? "string" : value(at: index).typeName }

    /// Lends the bytes of the string value at `index`, in place. Check `isString(at:)` first.
    @inline(__always)
    public func withStringBytes<R, E: Error>(
        at index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(stringBytesInPlace(at: index))
    }

    /// The string at `index` where it lives (the node's inline bytes or the array the node holds), without a
    /// copy or a closure: valid until this table is next modified, so only while its shard stays locked.
    /// Non-generic on purpose: `withStringBytes` called from another module runs unspecialized, and copied the
    /// whole table (retaining its arrays) on every GET (callgrind: 8% of a GET's instructions).
    @inline(__always)
    public func stringBytesInPlace(at index: Int) -> UnsafeRawBufferPointer {
        let node = nodes.address(of: index)
        let length = node.pointee.inline.valueLength
        if length != InlineBytes.outOfLine {
            let start = UnsafeRawPointer(node) + Self.inlineOffset + node.pointee.inline.valueOffset
            return UnsafeRawBufferPointer(start: start, count: Int(length))
        }
        guard case .string(let bytes) = node.pointee.longValue.unsafelyUnwrapped else {
            preconditionFailure("stringBytesInPlace on a value that is not a string")
        }
        // The node keeps the array (and so its storage) alive; the table is not modified while the caller reads.
        return bytes.withUnsafeBytes { $0 }
    }

    /// Byte offset of a node's inline bytes within the node.
    static let inlineOffset = MemoryLayout<Node>.offset(of: \Node.inline)!

    /// The value at `index` as an owned `Value` (allocates when the value is inline).
    public func value(at index: Int) -> Value {
        if nodes[index].inline.valueLength == InlineBytes.outOfLine { return nodes[index].longValue.unsafelyUnwrapped }
        return .string(withStringBytes(at: index) { Array($0) })
    }

    /// Value and deadline at `index`, owned (RENAME, COPY, MOVE carry them to another key).
    public func entry(at index: Int) -> Entry { Entry(value: value(at: index), expiresAt: expiresAt(at: index)) }

    // MARK: - Mutation

    /// Appends a node for a key known to be absent, with an empty inline value. Returns its index.
    private mutating func appendNode(_ key: KeyView, expiresAt: Milliseconds, now: Milliseconds) -> Int {
        if nodes.count >= buckets.count { rehash(to: buckets.count * 2) }
        let index = nodes.count
        let bucketIndex = bucket(for: key.hash)
        var inline = InlineBytes()
        var longKey: [UInt8]?
        if key.bytes.count <= InlineBytes.capacity {
            inline.store(key.bytes, at: 0)
            inline.keyLength = UInt8(key.bytes.count)
        } else {
            longKey = Array(key.bytes)
            inline.keyLength = InlineBytes.outOfLine
        }
        nodes.append(
            Node(
                hash: key.hash, next: buckets[bucketIndex], volatileSlot: -1, inline: inline,
                spill: longKey.map { .key($0) }))
        buckets[bucketIndex] = Int32(index)
        entryBytes += Self.entryBytes(nodes[index])
        if expiresAt != 0 { addVolatile(index, expiresAt) }
        access.reserve(nodes.count)
        access.store(index, access.fresh(now: now))
        signalModified(index, change: .created)
        return index
    }

    /// Inserts a string key known to be absent (call `lookupForWrite` first), copying both from the request's
    /// bytes. Returns its node index.
    @discardableResult
    public mutating func insert(
        _ key: KeyView, string bytes: UnsafeRawBufferPointer, expiresAt: Milliseconds = 0, now: Milliseconds
    ) -> Int {
        let index = appendNode(key, expiresAt: expiresAt, now: now)
        setString(at: index, bytes)
        return index
    }

    /// Sets `key` to `entry`, replacing any value and deadline. Returns the node index.
    @discardableResult
    public mutating func set(_ key: KeyView, _ entry: Entry, now: Milliseconds) -> Int {
        if let index = find(key) {
            replace(at: index, with: entry)
            return index
        }
        let index = appendNode(key, expiresAt: entry.expiresAt, now: now)
        setValue(at: index, entry.value)
        return index
    }

    /// Sets `key` to `entry` as a new key: an existing one is deleted first (RENAME and COPY REPLACE onto an
    /// existing key, which Redis deletes and re-adds, so listeners hear of a created key either way).
    @discardableResult
    public mutating func replaceAsNew(_ key: KeyView, _ entry: Entry, now: Milliseconds) -> Int {
        if let index = find(key) { remove(at: index) }
        return set(key, entry, now: now)
    }

    /// Sets `key` to the string `bytes` with `deadline` (0: none), replacing any value. Returns the node index.
    @discardableResult
    public mutating func setString(
        _ key: KeyView, _ bytes: UnsafeRawBufferPointer, expiresAt deadline: Milliseconds = 0, now: Milliseconds
    ) -> Int {
        if let index = find(key) {
            setString(at: index, bytes)
            setExpiry(at: index, deadline)
            return index
        }
        return insert(key, string: bytes, expiresAt: deadline, now: now)
    }

    /// Replaces the value at `index` with the string `bytes`, keeping its deadline. Stores it inline when it
    /// fits beside the key; else reuses the old array's storage when nothing else (a snapshot) shares it.
    public mutating func setString(at index: Int, _ bytes: UnsafeRawBufferPointer) {
        signalModified(index)
        let offset = nodes[index].inline.valueOffset
        // The common case, inline to inline: nothing out of line to take apart.
        if case nil = nodes[index].spill, bytes.count <= InlineBytes.capacity - offset {
            nodes[index].inline.store(bytes, at: offset)
            nodes[index].inline.valueLength = UInt8(bytes.count)
            return
        }
        var previous = nodes[index].longValue.take()
        entryBytes -= Self.valueBytes(previous)
        if bytes.count <= InlineBytes.capacity - offset {
            nodes[index].inline.store(bytes, at: offset)
            nodes[index].inline.valueLength = UInt8(bytes.count)
            return
        }
        var array: [UInt8]
        if case .string(let old) = previous {
            array = old
            previous = nil
            array.removeAll(keepingCapacity: true)
            array.append(contentsOf: bytes)
        } else {
            array = Array(bytes)
        }
        entryBytes += Self.allocationBytes(array.capacity)
        nodes[index].longValue = .string(array)
        nodes[index].inline.valueLength = InlineBytes.outOfLine
    }

    /// Replaces the value at `index`, keeping its deadline.
    public mutating func setValue(at index: Int, _ value: Value) {
        signalModified(index)
        switch value {
        case .string(let bytes) where bytes.count <= InlineBytes.capacity - nodes[index].inline.valueOffset:
            bytes.withUnsafeBytes { setString(at: index, $0) }
        default:
            entryBytes += Self.valueBytes(value) - Self.valueBytes(nodes[index].longValue)
            nodes[index].longValue = value
            nodes[index].inline.valueLength = InlineBytes.outOfLine
        }
    }

    /// Lets `body` change the value in place (APPEND, SETRANGE): an out-of-line value is handed over without a
    /// copy of its bytes.
    public mutating func modifyValue<R>(at index: Int, _ body: (inout Value) -> R) -> R {
        var value: Value
        if let long = nodes[index].longValue.take() {
            entryBytes -= Self.valueBytes(long)
            value = long
        } else {
            value = .string(withStringBytes(at: index) { Array($0) })
        }
        nodes[index].inline.valueLength = 0
        let result = body(&value)
        setValue(at: index, value)
        return result
    }

    /// Lets `body` change the hash at `index` in place; nil (and `body` not called) when the value is not a
    /// hash. Only what `body` changes is copied when a snapshot shares the hash (see `FieldMap`).
    public mutating func modifyHash<R, E: Error>(
        at index: Int, _ body: (inout HashValue) throws(E) -> R
    ) throws(E) -> R? {
        guard asHash(at: index) != nil, case .hash(var hash) = takeValueForModification(at: index) else { return nil }
        defer { restoreValue(at: index, .hash(hash)) }
        return try body(&hash)
    }

    /// The list at `index`, or nil when the value is of another type.
    @inline(__always)
    public func asList(at index: Int) -> ListValue? {
        guard nodes[index].inline.valueLength == InlineBytes.outOfLine,
            case .list(let list) = nodes[index].longValue.unsafelyUnwrapped
        else { return nil }
        return list
    }

    /// Lets `body` change the list at `index` in place; nil (and `body` not called) when it is not a list.
    public mutating func modifyList<R, E: Error>(
        at index: Int, _ body: (inout ListValue) throws(E) -> R
    ) throws(E) -> R? {
        guard asList(at: index) != nil, case .list(var list) = takeValueForModification(at: index) else { return nil }
        defer { restoreValue(at: index, .list(list)) }
        return try body(&list)
    }

    /// The sorted set at `index`, or nil when the value is of another type.
    @inline(__always)
    public func asSortedSet(at index: Int) -> SortedSetValue? {
        guard nodes[index].inline.valueLength == InlineBytes.outOfLine,
            case .sortedSet(let zset) = nodes[index].longValue.unsafelyUnwrapped
        else { return nil }
        return zset
    }

    /// Lets `body` change the sorted set at `index` in place; nil when it is not a sorted set.
    public mutating func modifySortedSet<R, E: Error>(
        at index: Int, _ body: (inout SortedSetValue) throws(E) -> R
    ) throws(E) -> R? {
        guard asSortedSet(at: index) != nil, case .sortedSet(var zset) = takeValueForModification(at: index) else {
            return nil
        }
        defer { restoreValue(at: index, .sortedSet(zset)) }
        return try body(&zset)
    }

    /// Lets `body` change the set at `index` in place; nil (and `body` not called) when it is not a set.
    public mutating func modifySet<R, E: Error>(
        at index: Int, _ body: (inout SetValue) throws(E) -> R
    ) throws(E) -> R? {
        guard asSet(at: index) != nil, case .set(var set) = takeValueForModification(at: index) else { return nil }
        defer { restoreValue(at: index, .set(set)) }
        return try body(&set)
    }

    /// Takes the out-of-line value out of its node (so the caller holds the only reference); the caller checked
    /// its type and puts it back with `restoreValue`.
    private mutating func takeValueForModification(at index: Int) -> Value? {
        signalModified(index)
        let value = nodes[index].longValue.take()
        entryBytes -= Self.valueBytes(value)
        return value
    }

    private mutating func restoreValue(at index: Int, _ value: Value) {
        entryBytes += Self.valueBytes(value)
        nodes[index].longValue = value
    }

    /// Inserts `key`, known to be absent, holding `value`. Returns its node index.
    @discardableResult
    public mutating func insert(_ key: KeyView, value: Value, expiresAt: Milliseconds = 0, now: Milliseconds) -> Int {
        let index = appendNode(key, expiresAt: expiresAt, now: now)
        setValue(at: index, value)
        return index
    }

    /// Replaces value and deadline at `index`.
    public mutating func replace(at index: Int, with entry: Entry) {
        setValue(at: index, entry.value)
        setExpiry(at: index, entry.expiresAt)
    }

    /// Sets (or with 0 clears) the deadline of the key at `index`.
    public mutating func setExpiry(at index: Int, _ deadline: Milliseconds) {
        signalModified(index)
        let slot = nodes[index].volatileSlot
        if deadline != 0 && slot < 0 {
            addVolatile(index, deadline)
        } else if deadline == 0 && slot >= 0 {
            removeVolatile(slot: Int(slot))
        } else if slot >= 0 {
            deadlines[Int(slot)].at = deadline
        }
    }

    /// Removes the key at `index` (`change`: deleted, or reclaimed because its deadline passed, or evicted).
    /// The last node moves into `index`.
    public mutating func remove(at index: Int, change: KeyChange = .written) {
        signalModified(index, change: change)
        relink(index, hash: nodes[index].hash, to: nodes[index].next)
        let slot = nodes[index].volatileSlot
        if slot >= 0 { removeVolatile(slot: Int(slot)) }
        entryBytes -= Self.entryBytes(nodes[index])
        let last = nodes.count - 1
        if index != last {
            relink(last, hash: nodes[last].hash, to: Int32(index))
            nodes.swapAt(index, last)
            access.store(index, access.load(last))
            let movedSlot = nodes[index].volatileSlot
            if movedSlot >= 0 { deadlines[Int(movedSlot)].node = Int32(index) }
        }
        nodes.removeLast()
        if buckets.count > Self.minimumBuckets && nodes.count * 8 < buckets.count {
            rehash(to: max(Self.minimumBuckets, Self.powerOfTwo(atLeast: nodes.count * 2)))
        }
    }

    /// Removes `key` if present (expired or not) and returns its entry.
    @discardableResult
    public mutating func remove(_ key: KeyView) -> Entry? {
        guard let index = find(key) else { return nil }
        let entry = entry(at: index)
        remove(at: index)
        return entry
    }

    public mutating func removeAll() {
        notifyAllModified()
        buckets = [Int32](repeating: -1, count: Self.minimumBuckets)
        nodes = SegmentedArray()
        deadlines = []
        entryBytes = 0
        access = AccessMetadata(policy: access.policy)
    }

    /// Records expirations done on this table from outside (the active cycle removes through `remove(at:)`).
    public mutating func noteExpired(_ count: Int) { expiredCount += count }

    // MARK: - Modification signals

    /// Tells the observers that the key at `index` is about to change or go.
    @inline(__always)
    private func signalModified(_ index: Int, change: KeyChange = .written) {
        let feedListening = feed?.isListening == true
        guard observer != nil || feedListening else { return }
        withKeyBytes(at: index) { bytes in
            if let observer {
                let view = KeyView(bytes: bytes, hash: nodes[index].hash)
                observer.modified(hash: view.hash, removedAsExpired: change == .expired) { view.matches($0) }
            }
            if feedListening { feed?.report(bytes, database: database, change: change) }
        }
    }

    /// Tells the observers that every key of this table that exists is about to change (flush, swap).
    func notifyAllModified(alsoExistingIn other: ShardTable? = nil) {
        guard let observer else { return }
        observer.modifiedAll { key in
            key.withView { view in find(view) != nil || other?.find(view) != nil }
        }
    }

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
        return Self.nextScanCursor(cursor, mask: mask)
    }

    /// The cursor after `cursor` in a reverse-binary walk of `mask + 1` slots (0 when the walk is complete).
    @inline(__always)
    static func nextScanCursor(_ cursor: UInt64, mask: UInt64) -> UInt64 {
        var next = cursor | ~mask
        next = reverseBits(next)
        next &+= 1
        return reverseBits(next)
    }

    /// A uniformly random node index, or nil when empty.
    public func randomIndex<G: RandomNumberGenerator>(using generator: inout G) -> Int? {
        nodes.isEmpty ? nil : Int.random(in: 0..<nodes.count, using: &generator)
    }

    /// A uniformly random index among keys that carry a deadline.
    public func randomVolatileIndex<G: RandomNumberGenerator>(using generator: inout G) -> Int? {
        deadlines.isEmpty ? nil : Int(deadlines[Int.random(in: 0..<deadlines.count, using: &generator)].node)
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

    private mutating func addVolatile(_ index: Int, _ deadline: Milliseconds) {
        nodes[index].volatileSlot = Int32(deadlines.count)
        deadlines.append(Deadline(node: Int32(index), at: deadline))
        entryBytes += MemoryLayout<Deadline>.stride
    }

    private mutating func removeVolatile(slot: Int) {
        let node = Int(deadlines[slot].node)
        let last = deadlines.count - 1
        if slot != last {
            let moved = deadlines[last]
            deadlines[slot] = moved
            nodes[Int(moved.node)].volatileSlot = Int32(slot)
        }
        deadlines.removeLast()
        nodes[node].volatileSlot = -1
        entryBytes -= MemoryLayout<Deadline>.stride
    }

    private mutating func rehash(to size: Int) {
        buckets = [Int32](repeating: -1, count: size)
        let mask = size - 1
        for index in nodes.indices {
            let bucketIndex = Int(truncatingIfNeeded: nodes[index].hash) & mask
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

/// The 40 bytes inside a node: up to `capacity` bytes of key followed by value, then the inline key length
/// and value length (`outOfLine` when that part lives on the heap instead).
struct InlineBytes: Sendable {
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)

    static let capacity = 38
    static let outOfLine: UInt8 = 0xFF

    var keyLength: UInt8 {
        @inline(__always) get { UInt8(truncatingIfNeeded: words.4 >> 48) }
        @inline(__always) set { words.4 = words.4 & ~(0xFF << 48) | UInt64(newValue) << 48 }
    }

    var valueLength: UInt8 {
        @inline(__always) get { UInt8(truncatingIfNeeded: words.4 >> 56) }
        @inline(__always) set { words.4 = words.4 & ~(0xFF << 56) | UInt64(newValue) << 56 }
    }

    /// Where an inline value starts: after an inline key.
    var valueOffset: Int {
        @inline(__always) get { keyLength == Self.outOfLine ? 0 : Int(keyLength) }
    }

    @inline(__always)
    func withBytes<R, E: Error>(
        from offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try withUnsafeBytes(of: words) { raw throws(E) in
            try body(UnsafeRawBufferPointer(start: raw.baseAddress! + offset, count: count))
        }
    }

    @inline(__always)
    mutating func store(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.count > 0 else { return }
        precondition(offset + bytes.count <= Self.capacity)
        withUnsafeMutableBytes(of: &words) { raw in
            (raw.baseAddress! + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` with a typed error.
    @inline(__always)
    func withUnsafeBytesTyped<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeBytes { raw in
            do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}
