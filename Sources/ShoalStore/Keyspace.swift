import Synchronization

/// One shard: a read-write lock and the table it guards. The table lives behind a pointer allocated once, so
/// readers holding the read lock borrow it in place: no copy, no exclusivity bookkeeping between threads.
final class Shard: @unchecked Sendable {
    let lock: ReadWriteLock
    let table: UnsafeMutablePointer<ShardTable>
    /// The table's count of keys with a deadline, as of its last write: lets the active expiry cycle pass over a
    /// shard with none without taking its lock (1,024 lock round trips and 2,048 clock reads per cycle, with 16
    /// databases, were 4% of an idle-keyed GET workload's instructions).
    let volatileKeys = Atomic<Int>(0)

    init(policy: AccessPolicy, database: Int, feed: ChangeFeed, waits: LockWaits) {
        lock = ReadWriteLock(waits: waits)
        table = .allocate(capacity: 1)
        table.initialize(to: ShardTable(policy: policy))
        table.pointee.database = database
        table.pointee.feed = feed
    }

    deinit {
        table.deinitialize(count: 1)
        table.deallocate()
    }

    /// After a write, under the write lock. Stores only on a change, so readers' cache line stays clean.
    @inline(__always)
    func noteVolatileKeys() {
        let count = table.pointee.volatileCount
        if volatileKeys.load(ordering: .relaxed) != count { volatileKeys.store(count, ordering: .relaxed) }
    }
}

/// Names one shard of one database; the order of these is the one global lock order.
public struct ShardID: Hashable, Comparable, Sendable {
    public let database: Int
    public let shard: Int

    public init(database: Int, shard: Int) {
        self.database = database
        self.shard = shard
    }

    public static func < (lhs: ShardID, rhs: ShardID) -> Bool {
        (lhs.database, lhs.shard) < (rhs.database, rhs.shard)
    }
}

/// The tables a multi-shard operation holds locked. Only shards named when it was made can be reached, and
/// only an exclusive (write-locked) group hands tables out for modification: under read locks, many threads
/// hold the same table, so none of them may write to it.
public struct ShardGroup {
    let keyspace: Keyspace
    /// The locked shards, sorted, without duplicates.
    public let ids: [ShardID]
    public let exclusive: Bool

    private func table(_ database: Int, _ hash: UInt64) -> UnsafeMutablePointer<ShardTable> {
        let id = ShardID(database: database, shard: keyspace.shardIndex(for: hash))
        precondition(contains(id), "ShardGroup: shard \(id) was not locked")
        return keyspace.shard(id).table
    }

    /// The table holding `hash` in `database`, for modification; the group must be exclusive.
    public func withTable<R, E: Error>(
        database: Int, hash: UInt64, _ body: (inout ShardTable) throws(E) -> R
    ) throws(E) -> R {
        precondition(exclusive, "ShardGroup: tables of a read-locked group cannot be modified")
        return try body(&table(database, hash).pointee)
    }

    /// The table holding `hash` in `database`, read-only.
    public func readTable<R, E: Error>(
        database: Int, hash: UInt64, _ body: (TableReader) throws(E) -> R
    ) throws(E) -> R {
        try body(TableReader(table(database, hash)))
    }

    /// Each locked table in lock order, for modification; the group must be exclusive.
    public func forEachTable(_ body: (ShardID, inout ShardTable) throws -> Void) rethrows {
        precondition(exclusive, "ShardGroup: tables of a read-locked group cannot be modified")
        for id in ids { try body(id, &keyspace.shard(id).table.pointee) }
    }

    /// Each locked table in lock order, read-only.
    public func forEachTableReading(_ body: (ShardID, TableReader) throws -> Void) rethrows {
        for id in ids { try body(id, TableReader(keyspace.shard(id).table)) }
    }

    /// Whether this group holds shard `id`.
    public func holds(_ id: ShardID) -> Bool { ids.contains(id) }

    /// Whether every shard of `database` is in the group.
    public func holdsAll(of database: Int) -> Bool {
        ids.filter { $0.database == database }.count == keyspace.shardsPerDatabase
    }

    /// Keys (live or not yet reclaimed) in `database`; the group holds all of its shards.
    public func count(database: Int) -> Int {
        precondition(holdsAll(of: database), "ShardGroup: database \(database) is not wholly locked")
        var total = 0
        forEachTableReading { id, table in if id.database == database { total += table.count } }
        return total
    }

    /// Removes every key of `databases` (FLUSHDB, FLUSHALL). Returns how many there were.
    @discardableResult
    public func flush(databases: some Sequence<Int>) -> Int {
        let flushed = Set(databases)
        precondition(flushed.allSatisfy(holdsAll(of:)), "ShardGroup: flushed databases are not wholly locked")
        var removed = 0
        forEachTable { id, table in
            guard flushed.contains(id.database) else { return }
            removed += table.count
            table.removeAll()
        }
        return removed
    }

    /// Exchanges the contents of two databases (SWAPDB). Observers stay with their database, and every
    /// watched key that exists in either database counts as modified, as Redis's `touchAllWatchedKeysInDb`.
    public func swapDatabases(_ first: Int, _ second: Int) {
        precondition(
            exclusive && holdsAll(of: first) && holdsAll(of: second), "ShardGroup: SWAPDB needs both databases")
        guard first != second else { return }
        for index in 0..<keyspace.shardsPerDatabase {
            let a = keyspace.shard(ShardID(database: first, shard: index)).table
            let b = keyspace.shard(ShardID(database: second, shard: index)).table
            a.pointee.notifyAllModified(alsoExistingIn: b.pointee)
            b.pointee.notifyAllModified(alsoExistingIn: a.pointee)
            swap(&a.pointee, &b.pointee)
            swap(&a.pointee.observer, &b.pointee.observer)
            swap(&a.pointee.database, &b.pointee.database)
        }
    }

    /// A copy of every non-empty table (O(1) each: copy-on-write), for a snapshot.
    public func copyTables() -> [(ShardID, ShardTable)] {
        var tables: [(ShardID, ShardTable)] = []
        tables.reserveCapacity(ids.count)
        forEachTableReading { id, table in
            if !table.isEmpty { tables.append((id, table.copy())) }
        }
        return tables
    }
}

/// `databases` keyspaces, each split into `shards` (a power of two), each shard with its own read-write lock.
///
/// The only way to reach a table is through a closure: `read` and `write` for one key, `withShards` for
/// several. A multi-shard operation locks every shard it names in ascending `ShardID` order and holds them
/// all until its closure returns, so it is atomic to every other client and cannot deadlock with another.
public final class Keyspace: @unchecked Sendable {
    public let databaseCount: Int
    public let shardsPerDatabase: Int
    /// Every shard of every database, in lock order (FLUSHALL, a transaction or script that reaches everything).
    public let everyShardID: [ShardID]
    private let shardBits: Int
    private let shards: [Shard]
    private let expireCursor = Atomic<Int>(0)
    /// Estimated heap bytes of all tables, kept by adding each write's change (no global lock).
    private let datasetBytes = Atomic<Int>(0)
    private let evicted = Atomic<Int>(0)
    /// Best eviction candidates seen so far, kept across calls as Redis's eviction pool.
    let evictionPool = EvictionPool()

    /// Forgets the eviction candidates (their scores mean something else after a policy change).
    public func resetEvictionPool() { evictionPool.removeAll() }
    /// What every table tracks per key (LRU clock or LFU counter), set from `maxmemory-policy`.
    public let accessPolicy = AccessPolicy()
    /// Every change to every key, for whoever listens (client tracking, keyspace notifications).
    public let changes = ChangeFeed()
    /// Shard lock waits of readers and writers (only contended acquisitions are timed).
    public let lockWaits = LockWaits()

    /// Per shard (database-major order): acquisitions that waited, and the nanoseconds they waited.
    public func shardContention() -> [(shard: ShardID, contended: Int, waitedNanoseconds: Int)] {
        shards.enumerated().map { index, shard in
            (
                ShardID(database: index / shardsPerDatabase, shard: index % shardsPerDatabase),
                shard.lock.contended.load(ordering: .relaxed), shard.lock.waitedNanoseconds.load(ordering: .relaxed)
            )
        }
    }

    public init(databases: Int = 16, shardsPerDatabase: Int = 64) {
        precondition(databases >= 1, "databases must be at least 1")
        precondition(
            shardsPerDatabase >= 1 && shardsPerDatabase & (shardsPerDatabase - 1) == 0,
            "shards must be a power of two")
        databaseCount = databases
        self.shardsPerDatabase = shardsPerDatabase
        everyShardID = (0..<databases).flatMap { database in
            (0..<shardsPerDatabase).map { ShardID(database: database, shard: $0) }
        }
        shardBits = shardsPerDatabase.trailingZeroBitCount
        let policy = accessPolicy
        let feed = changes
        let waits = lockWaits
        shards = (0..<(databases * shardsPerDatabase)).map {
            Shard(policy: policy, database: $0 / shardsPerDatabase, feed: feed, waits: waits)
        }
        datasetBytes.store(shards.reduce(0) { $0 + $1.table.pointee.usedBytes }, ordering: .relaxed)
    }

    /// A key's shard comes from the top bits of its hash; its bucket from the bottom bits, so the two are
    /// independent.
    @inline(__always)
    public func shardIndex(for hash: UInt64) -> Int {
        shardBits == 0 ? 0 : Int(truncatingIfNeeded: hash >> UInt64(64 - shardBits))
    }

    @inline(__always)
    func shard(_ id: ShardID) -> Shard { shards[id.database * shardsPerDatabase + id.shard] }

    @inline(__always)
    private func shard(database: Int, hash: UInt64) -> Shard {
        shards[database * shardsPerDatabase + shardIndex(for: hash)]
    }

    // MARK: - Single-shard access

    /// Runs `body` with the key's table under the shard's read lock.
    @inline(__always)
    public func read<R, E: Error>(
        _ database: Int, _ key: KeyView, _ body: (TableReader) throws(E) -> R
    ) throws(E) -> R {
        try reading(shard(database: database, hash: key.hash), body)
    }

    /// Runs `body` with the key's table under the shard's write lock: the whole read-modify-write is atomic.
    @inline(__always)
    public func write<R, E: Error>(
        _ database: Int, _ key: KeyView, _ body: (inout ShardTable) throws(E) -> R
    ) throws(E) -> R {
        try writing(shard(database: database, hash: key.hash), body)
    }

    // The two ways one shard is held, written once: read-locked (or already held, `locking: false`), or
    // write-locked with the change in the table's bytes folded into `usedBytes` before the lock is released.

    @inline(__always)
    private func reading<R, E: Error>(
        _ shard: Shard, locking: Bool = true, _ body: (TableReader) throws(E) -> R
    ) throws(E) -> R {
        if locking { shard.lock.lockRead() }
        defer { if locking { shard.lock.unlock() } }
        return try body(TableReader(shard.table))
    }

    @inline(__always)
    private func writing<R, E: Error>(_ shard: Shard, _ body: (inout ShardTable) throws(E) -> R) throws(E) -> R {
        shard.lock.lockWrite()
        let before = shard.table.pointee.usedBytes
        defer {
            account(shard.table.pointee.usedBytes - before)
            shard.noteVolatileKeys()
            shard.lock.unlock()
        }
        return try body(&shard.table.pointee)
    }

    @inline(__always)
    private func account(_ delta: Int) {
        if delta != 0 { datasetBytes.add(delta, ordering: .relaxed) }
    }

    /// Estimated bytes the dataset occupies on the heap (keys, values and table structures of all shards).
    public var usedBytes: Int { datasetBytes.load(ordering: .relaxed) }

    /// Keys evicted to stay under `maxmemory`.
    public var evictedKeyCount: Int { evicted.load(ordering: .relaxed) }

    func noteEvicted() { evicted.add(1, ordering: .relaxed) }

    /// Expired-key count at the last `resetStatistics`, subtracted from the running total.
    private let expiredBaseline = Atomic<Int>(0)

    /// CONFIG RESETSTAT: evicted_keys and expired_keys start again from zero.
    public func resetStatistics(locking: Bool = true) {
        evicted.store(0, ordering: .relaxed)
        expiredBaseline.store(totalExpired(locking: locking), ordering: .relaxed)
    }

    var allShardCount: Int { shards.count }

    /// One shard by flat index (database * shardsPerDatabase + shard) under its write lock, with its usage
    /// accounted. For eviction, which works across databases.
    func writeShard<R>(index: Int, _ body: (inout ShardTable) -> R) -> R { writing(shards[index], body) }

    /// One shard by flat index under its read lock.
    func readShard<R>(index: Int, _ body: (TableReader) -> R) -> R {
        reading(shards[index], body)
    }

    // MARK: - Multi-shard access

    /// The shards that hold `hashes` in `database`.
    public func shardIDs(database: Int, hashes: some Sequence<UInt64>) -> [ShardID] {
        hashes.map { ShardID(database: database, shard: shardIndex(for: $0)) }
    }

    /// Every shard of the given databases.
    public func allShardIDs(databases: some Sequence<Int>) -> [ShardID] {
        databases.flatMap { database in (0..<shardsPerDatabase).map { ShardID(database: database, shard: $0) } }
    }

    /// Locks every shard in `ids` (duplicates allowed) in ascending order, runs `body`, unlocks in reverse.
    public func withShards<R, E: Error>(
        _ ids: [ShardID], exclusive: Bool, _ body: (ShardGroup) throws(E) -> R
    ) throws(E) -> R {
        var sorted = ids.sorted()
        sorted.removeDuplicates()
        var before = 0
        for id in sorted {
            precondition(id.database >= 0 && id.database < databaseCount && id.shard < shardsPerDatabase)
            if exclusive {
                shard(id).lock.lockWrite()
                before += shard(id).table.pointee.usedBytes
            } else {
                shard(id).lock.lockRead()
            }
        }
        defer {
            if exclusive {
                account(sorted.reduce(0) { $0 + shard($1).table.pointee.usedBytes } - before)
                for id in sorted { shard(id).noteVolatileKeys() }
            }
            for id in sorted.reversed() { shard(id).lock.unlock() }
        }
        return try body(ShardGroup(keyspace: self, ids: sorted, exclusive: exclusive))
    }

    // MARK: - Whole-database operations

    // The whole-database operations are written once, in `Store`; a live store here takes the locks.

    /// Number of live-or-not-yet-reclaimed keys in `database`, read under all its read locks at once.
    public func count(database: Int) -> Int { Store(live: self).count(database: database) }

    /// Removes every key of `database` atomically. Returns how many there were.
    @discardableResult
    public func flush(database: Int) -> Int { Store(live: self).flush(database: database) }

    /// Removes every key of every database atomically.
    public func flushAll() { Store(live: self).flushAll() }

    /// Exchanges the contents of two databases atomically (SWAPDB).
    public func swapDatabases(_ first: Int, _ second: Int) { Store(live: self).swapDatabases(first, second) }

    /// Per database: (keys, keys with a deadline), as `INFO keyspace` reports them. Each shard is read under
    /// its own read lock; the figures are a consistent sum per shard, not one instant across all.
    /// `locking: false` when the caller already holds every shard (a `Store` in a transaction).
    public func keyCounts(locking: Bool = true) -> [(keys: Int, volatile: Int)] {
        (0..<databaseCount).map { database in
            var keys = 0
            var volatile = 0
            for index in 0..<shardsPerDatabase {
                reading(shard(ShardID(database: database, shard: index)), locking: locking) { table in
                    keys += table.count
                    volatile += table.volatileCount
                }
            }
            return (keys, volatile)
        }
    }

    /// Keys removed because they expired, over all shards (since the last `resetStatistics`).
    public func expiredKeyCount(locking: Bool = true) -> Int {
        totalExpired(locking: locking) - expiredBaseline.load(ordering: .relaxed)
    }

    private func totalExpired(locking: Bool) -> Int {
        var total = 0
        for shard in shards { total += reading(shard, locking: locking) { $0.expiredCount } }
        return total
    }

    // MARK: - Snapshots

    /// A point-in-time copy of every table, for snapshots taken without fork: every shard's read lock is
    /// taken (in order), each table copied (O(1): its arrays are copy-on-write), and the locks released.
    /// Writers wait only for that; a shard written afterwards pays one copy of its own arrays, once.
    /// - Returns: the non-empty tables in (database, shard) order, and how long writers were held off.
    public func pointInTimeCopy() -> (tables: [(ShardID, ShardTable)], pauseMicroseconds: Int64) {
        var started: Int64 = 0
        let (tables, finished) = withShards(everyShardID, exclusive: false) { group in
            started = monotonicMicroseconds()
            return (group.copyTables(), monotonicMicroseconds())
        }
        // The pause is what writers saw: from the last lock taken to the first released.
        return (tables, finished - started)
    }

    /// Inserts a key while loading a snapshot (no other thread runs yet). Replaces an existing key.
    public func load(database: Int, key: Key, entry: Entry, now: Milliseconds) {
        key.withView { view in
            write(database, view) { table in table.set(view, entry, now: now) }
        }
    }

    // MARK: - SCAN and RANDOMKEY

    /// One SCAN step over `database`: visits buckets until at least `count` keys were seen (or 10×count empty
    /// buckets, as Redis bounds the work), calling `body` with the table and index of each live key under the
    /// read lock.
    /// The cursor carries the shard in its low bits and the shard's bucket cursor above them; 0 starts and
    /// ends a walk. A key present for the whole walk is returned at least once.
    public func scan(
        database: Int, cursor: UInt64, count: Int, now: Milliseconds, locking: Bool = true,
        _ body: (TableReader, Int) -> Void
    ) -> UInt64 {
        var shardIndex = Int(truncatingIfNeeded: cursor & UInt64(shardsPerDatabase - 1))
        var bucketCursor = cursor >> UInt64(shardBits)
        var visited = 0
        var budget = max(count, 1) * 10
        while shardIndex < shardsPerDatabase {
            reading(shard(ShardID(database: database, shard: shardIndex)), locking: locking) { table in
                repeat {
                    bucketCursor = table.scan(cursor: bucketCursor) { index in
                        visited += 1
                        if !table.isExpired(at: index, now: now) { body(table, index) }
                    }
                    budget -= 1
                } while bucketCursor != 0 && visited < count && budget > 0
            }
            if bucketCursor == 0 { shardIndex += 1 }
            if visited >= count || budget <= 0 { break }
        }
        if shardIndex >= shardsPerDatabase { return 0 }
        return bucketCursor << UInt64(shardBits) | UInt64(shardIndex)
    }

    /// A random live key of `database`, or nil when it has none.
    public func randomKey(database: Int, now: Milliseconds, locking: Bool = true) -> Key? {
        var generator = SamplingRandom()
        let start = Int.random(in: 0..<shardsPerDatabase, using: &generator)
        for offset in 0..<shardsPerDatabase {
            let shard = shard(ShardID(database: database, shard: (start + offset) % shardsPerDatabase))
            let found = reading(shard, locking: locking) { table -> Key? in
                for _ in 0..<min(table.count, 16) {
                    if let index = table.randomIndex(using: &generator), !table.isExpired(at: index, now: now) {
                        return table.key(at: index)
                    }
                }
                // Mostly expired keys here: fall back to a walk so a live key is still found.
                var found: Key?
                table.forEachIndex { index in
                    if found == nil, !table.isExpired(at: index, now: now) { found = table.key(at: index) }
                }
                return found
            }
            if let found { return found }
        }
        return nil
    }

    // MARK: - Active expiry

    /// Reclaims expired keys nobody reads again, as Redis's `activeExpireCycle`: shard after shard (resuming
    /// where the last cycle stopped), sample up to 20 keys that carry a deadline, remove the expired ones, and
    /// sample that shard again while more than 10% of a sample was expired. Stops when `budgetMicroseconds` is
    /// spent, so a cycle never stalls requests for longer than its budget.
    /// - Returns: keys sampled and keys removed.
    @discardableResult
    public func activeExpireCycle(now: Milliseconds, budgetMicroseconds: Int64) -> (sampled: Int, expired: Int) {
        let started = monotonicMicroseconds()
        var generator = SamplingRandom()
        var sampled = 0
        var expired = 0
        let total = shards.count
        var position = expireCursor.load(ordering: .relaxed) % total
        for _ in 0..<total {
            let shard = shards[position]
            position = (position + 1) % total
            if shard.volatileKeys.load(ordering: .relaxed) == 0 { continue }
            writing(shard) { table in
                while table.volatileCount > 0 {
                    let samples = min(20, table.volatileCount)
                    var removedNow = 0
                    for _ in 0..<samples {
                        guard let index = table.randomVolatileIndex(using: &generator) else { break }
                        if table.isExpired(at: index, now: now) {
                            table.remove(at: index, change: .expired)
                            removedNow += 1
                        }
                    }
                    table.noteExpired(removedNow)
                    sampled += samples
                    expired += removedNow
                    if removedNow * 10 <= samples || monotonicMicroseconds() - started > budgetMicroseconds { break }
                }
            }
            if monotonicMicroseconds() - started > budgetMicroseconds { break }
        }
        expireCursor.store(position, ordering: .relaxed)
        return (sampled, expired)
    }
}

extension Array where Element: Equatable {
    /// Removes adjacent duplicates (the array is sorted first by the caller).
    mutating func removeDuplicates() {
        guard count > 1 else { return }
        var write = 1
        for read in 1..<count where self[read] != self[write - 1] {
            self[write] = self[read]
            write += 1
        }
        removeLast(count - write)
    }
}
