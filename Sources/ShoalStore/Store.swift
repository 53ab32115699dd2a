/// The one way a command reaches keys: one key to read, one key to write, several keys, whole databases.
///
/// Two kinds behind the same calls. A **live** store locks per call, as an ordinary command needs. A
/// **pre-locked** store works inside a `ShardGroup` that someone already holds, in the one global order: EXEC
/// holds the union of its queued commands' shards (later, a Lua script its declared keys', a blocked pop's
/// retry its key's) and runs ordinary handlers against it. pthread rwlocks are not reentrant, so a handler
/// that locked by itself inside EXEC would deadlock; through `Store` it never locks twice.
///
/// A pre-locked store refuses (by precondition) to reach a shard its group does not hold: the planner that
/// built the group (`TransactionPlan`) names every shard the commands can reach, and a miss is a bug in it,
/// not something a client can cause.
public struct Store {
    public let keyspace: Keyspace
    // The held group as its parts (sorted ids, or nil for a live store): every command's context carries a
    // Store, and three words copy cheaper than a whole optional group (measured with callgrind).
    private let heldIDs: [ShardID]?
    private let heldExclusive: Bool

    /// A live store: each call takes the locks it needs.
    public init(live keyspace: Keyspace) {
        self.keyspace = keyspace
        heldIDs = nil
        heldExclusive = false
    }

    /// A store inside `group`, which the caller holds for as long as it uses the store.
    public init(holding group: ShardGroup) {
        keyspace = group.keyspace
        heldIDs = group.ids
        heldExclusive = group.exclusive
    }

    /// The group already held, or nil for a live store.
    @inline(__always)
    private var held: ShardGroup? {
        heldIDs.map { ShardGroup(keyspace: keyspace, ids: $0, exclusive: heldExclusive) }
    }

    public var databaseCount: Int { keyspace.databaseCount }

    /// Whether this store runs inside shards someone already holds (EXEC, a script): nothing may wait in it.
    public var isHeld: Bool { heldIDs != nil }

    /// Whether writes are allowed: always for a live store; inside a held group, when it is write-locked.
    public var canWrite: Bool { heldIDs == nil || heldExclusive }

    // MARK: - One key

    /// Runs `body` with the key's table for reading.
    @inline(__always)
    public func read<R, E: Error>(
        _ database: Int, _ key: KeyView, _ body: (TableReader) throws(E) -> R
    ) throws(E) -> R {
        if let held { return try held.readTable(database: database, hash: key.hash, body) }
        return try keyspace.read(database, key, body)
    }

    /// Runs `body` with the key's table for modification: the whole read-modify-write is atomic.
    @inline(__always)
    public func write<R, E: Error>(
        _ database: Int, _ key: KeyView, _ body: (inout ShardTable) throws(E) -> R
    ) throws(E) -> R {
        if let held { return try held.withTable(database: database, hash: key.hash, body) }
        return try keyspace.write(database, key, body)
    }

    // MARK: - Several keys, whole databases

    /// Holds the shards of `hashes` in `database` together (ascending order) for `body`.
    public func withKeys<R, E: Error>(
        database: Int, hashes: some Sequence<UInt64>, exclusive: Bool, _ body: (ShardGroup) throws(E) -> R
    ) throws(E) -> R {
        try withShards(keyspace.shardIDs(database: database, hashes: hashes), exclusive: exclusive, body)
    }

    /// Holds the shards of keys in several databases together (COPY ... DB, MOVE).
    public func withKeys<R, E: Error>(
        _ keys: [(database: Int, hash: UInt64)], exclusive: Bool, _ body: (ShardGroup) throws(E) -> R
    ) throws(E) -> R {
        let ids = keys.map { ShardID(database: $0.database, shard: keyspace.shardIndex(for: $0.hash)) }
        return try withShards(ids, exclusive: exclusive, body)
    }

    /// Holds every shard of `databases` together for `body`.
    public func withDatabases<R, E: Error>(
        _ databases: some Sequence<Int>, exclusive: Bool, _ body: (ShardGroup) throws(E) -> R
    ) throws(E) -> R {
        try withShards(keyspace.allShardIDs(databases: databases), exclusive: exclusive, body)
    }

    /// Whether every one of `ids` can be reached: always for a live store; for a pre-locked one, whether its
    /// group holds them.
    public func holds(_ ids: [ShardID]) -> Bool {
        guard let heldIDs else { return true }
        return ids.allSatisfy { id in heldIDs.contains(id) }
    }

    /// Holds `ids` together for `body`: locks them (live), or checks the held group has them (pre-locked).
    public func withShards<R, E: Error>(
        _ ids: [ShardID], exclusive: Bool, _ body: (ShardGroup) throws(E) -> R
    ) throws(E) -> R {
        guard let held else { return try keyspace.withShards(ids, exclusive: exclusive, body) }
        precondition(!exclusive || held.exclusive, "Store: a write inside a read-locked group")
        var sorted = ids.sorted()
        sorted.removeDuplicates()
        for id in sorted { precondition(held.contains(id), "Store: shard \(id) is not held") }
        // The same view a live call gets: just the shards asked for (KEYS walks "its" group's tables).
        return try body(ShardGroup(keyspace: keyspace, ids: sorted, exclusive: exclusive))
    }

    public func count(database: Int) -> Int {
        withDatabases([database], exclusive: false) { $0.count(database: database) }
    }

    @discardableResult
    public func flush(database: Int) -> Int {
        withDatabases([database], exclusive: true) { $0.flush(databases: [database]) }
    }

    public func flushAll() {
        withDatabases(0..<databaseCount, exclusive: true) { $0.flush(databases: 0..<databaseCount) }
    }

    public func swapDatabases(_ first: Int, _ second: Int) {
        withDatabases([first, second], exclusive: true) { $0.swapDatabases(first, second) }
    }

    /// One SCAN step (see `Keyspace.scan`); pre-locked, the group holds the whole database.
    public func scan(
        database: Int, cursor: UInt64, count: Int, now: Milliseconds, _ body: (TableReader, Int) -> Void
    ) -> UInt64 {
        requireWhole(database)
        return keyspace.scan(database: database, cursor: cursor, count: count, now: now, locking: heldIDs == nil, body)
    }

    public func randomKey(database: Int, now: Milliseconds) -> Key? {
        requireWhole(database)
        return keyspace.randomKey(database: database, now: now, locking: heldIDs == nil)
    }

    // MARK: - Whole keyspace

    public func keyCounts() -> [(keys: Int, volatile: Int)] {
        requireEverything()
        return keyspace.keyCounts(locking: heldIDs == nil)
    }

    public func expiredKeyCount() -> Int {
        requireEverything()
        return keyspace.expiredKeyCount(locking: heldIDs == nil)
    }

    public func resetStatistics() {
        requireEverything()
        keyspace.resetStatistics(locking: heldIDs == nil)
    }

    /// A point-in-time copy of every table (SAVE inside a transaction copies from the held group).
    public func pointInTimeCopy() -> (tables: [(ShardID, ShardTable)], pauseMicroseconds: Int64) {
        guard let held else { return keyspace.pointInTimeCopy() }
        requireEverything()
        return (held.copyTables(), 0)
    }

    private func requireWhole(_ database: Int) {
        if let held { precondition(held.holdsAll(of: database), "Store: database \(database) is not held") }
    }

    private func requireEverything() {
        if let held { precondition(held.ids.count == keyspace.allShardCount, "Store: the keyspace is not held") }
    }
}

extension ShardGroup {
    /// Whether `id` is one of the locked shards.
    public func contains(_ id: ShardID) -> Bool {
        var low = 0
        var high = ids.count
        while low < high {
            let middle = (low + high) / 2
            if ids[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low < ids.count && ids[low] == id
    }
}
