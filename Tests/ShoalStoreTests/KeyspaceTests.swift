import Dispatch
import Testing

@testable import ShoalStore

@Suite struct KeyspaceTests {
    /// Eight threads incrementing eight counters under `write`: every increment is kept.
    @Test func readModifyWriteUnderTheWriteLockIsAtomic() {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 4)
        let perThread = 5000
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<perThread {
                let key = Key("counter\((i + thread) % 8)")
                key.withView { view in
                    keyspace.write(0, view) { table in
                        if let index = table.lookupForWrite(view, now: 0),
                            case .string(let bytes) = table.entry(at: index).value
                        {
                            let next = Int(String(decoding: bytes, as: UTF8.self))! + 1
                            table.setValue(at: index, .string(Array(String(next).utf8)))
                        } else {
                            table.set(view, Entry(value: .string(Array("1".utf8))), now: 0)
                        }
                    }
                }
            }
        }
        var total = 0
        for i in 0..<8 {
            Key("counter\(i)").withView { view in
                keyspace.read(0, view) { table in
                    if let index = table.lookup(view, now: 0), case .string(let bytes) = table.entry(at: index).value {
                        total += Int(String(decoding: bytes, as: UTF8.self))!
                    }
                }
            }
        }
        #expect(total == 8 * perThread)
    }

    /// A writer replaces a group of keys spread over shards with one generation number, together; readers
    /// holding all their shards' read locks must never see two generations at once.
    @Test func multiShardWritesAreNeverSeenHalfApplied() {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 16)
        let keys = (0..<12).map { Key("group\($0)") }
        let ids = keyspace.shardIDs(database: 0, hashes: keys.map(\.hash))
        #expect(Set(ids).count > 3)
        let torn = TornCounter()
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for generation in 0..<2000 {
                if worker == 0 {
                    keyspace.withShards(ids, exclusive: true) { group in
                        for key in keys {
                            key.withView { view in
                                group.withTable(database: 0, hash: view.hash) { table in
                                    table.set(view, Entry(value: .string(Array(String(generation).utf8))), now: 0)
                                }
                            }
                        }
                    }
                } else {
                    let values = keyspace.withShards(ids, exclusive: false) { group in
                        keys.map { key in
                            key.withView { view in
                                group.readTable(database: 0, hash: view.hash) { table in
                                    table.lookup(view, now: 0).map { table.entry(at: $0).value }
                                }
                            }
                        }
                    }
                    if Set(values.map { "\(String(describing: $0))" }).count > 1 { torn.increment() }
                }
            }
        }
        #expect(torn.value == 0)
    }

    @Test func scanWalksEveryShardAndKeyOnce() {
        let keyspace = Keyspace(databases: 2, shardsPerDatabase: 8)
        let names = (0..<1000).map { "key:\($0)" }
        for name in names {
            Key(name).withView { view in keyspace.write(1, view) { $0.set(view, Entry(value: .string([])), now: 0) } }
        }
        var seen: [String] = []
        var cursor: UInt64 = 0
        repeat {
            cursor = keyspace.scan(database: 1, cursor: cursor, count: 37, now: 0) { table, index in
                seen.append(table.key(at: index).description)
            }
        } while cursor != 0
        #expect(Set(seen) == Set(names))
        #expect(seen.count == names.count)  // no resizes during this walk, so no duplicates either
        #expect(keyspace.count(database: 0) == 0)
        #expect(keyspace.count(database: 1) == 1000)
    }

    @Test func activeExpiryReclaimsOnlyExpiredKeys() {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 4)
        for i in 0..<2000 {
            Key("k\(i)").withView { view in
                keyspace.write(0, view) {
                    $0.set(view, Entry(value: .string([]), expiresAt: i % 2 == 0 ? 50 : 0), now: 0)
                }
            }
        }
        var rounds = 0
        while keyspace.keyCounts()[0].volatile > 0 && rounds < 1000 {
            keyspace.activeExpireCycle(now: 100, budgetMicroseconds: 1_000_000)
            rounds += 1
        }
        #expect(keyspace.keyCounts()[0].keys == 1000)
        #expect(keyspace.expiredKeyCount() == 1000)
    }

    @Test func swapAndFlushAreWholeDatabaseOperations() {
        let keyspace = Keyspace(databases: 3, shardsPerDatabase: 4)
        Key("a").withView { view in keyspace.write(0, view) { $0.set(view, Entry(value: .string([1])), now: 0) } }
        keyspace.swapDatabases(0, 2)
        #expect(keyspace.count(database: 0) == 0)
        #expect(keyspace.count(database: 2) == 1)
        #expect(keyspace.flush(database: 2) == 1)
        #expect(keyspace.count(database: 2) == 0)
    }

    /// Keys are hashed with a per-process random seed, so a client cannot choose keys that land in one shard:
    /// the hash of a fixed key differs between processes (checked in the server tests by two processes) and,
    /// within a process, consecutive keys spread over all shards.
    @Test func keysSpreadOverShards() {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 64)
        var perShard = [Int](repeating: 0, count: 64)
        for i in 0..<64_000 { perShard[keyspace.shardIndex(for: Key("user:\(i)").hash)] += 1 }
        #expect(perShard.min()! > 700)
        #expect(perShard.max()! < 1300)
    }
}

final class TornCounter: @unchecked Sendable {
    private var count = 0
    private let lock = ReadWriteLock(waits: LockWaits())
    func increment() {
        lock.lockWrite()
        count += 1
        lock.unlock()
    }
    var value: Int {
        lock.lockRead()
        defer { lock.unlock() }
        return count
    }
}
