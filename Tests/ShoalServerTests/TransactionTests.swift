import Foundation
import RESP
import ShoalServer
import ShoalStore
import Synchronization
import Testing

/// Two key names that live in different shards of `server`, so a transaction over them spans shards.
func keysInDifferentShards(_ server: TestServer, prefix: String) -> (String, String) {
    let keyspace = server.state.keyspace
    func shard(_ name: String) -> Int { Array(name.utf8).withUnsafeBytes { keyspace.shardIndex(for: hashKey($0)) } }
    let first = "\(prefix):0"
    var index = 1
    while shard("\(prefix):\(index)") == shard(first) { index += 1 }
    return (first, "\(prefix):\(index)")
}

@Suite struct TransactionTests {
    /// Redis 7.0's replies for the shapes of MULTI/EXEC/DISCARD (checked against redis-server 7.0.15).
    @Test func transactionRepliesAndErrorsAreRedis() throws {
        try check([
            (["EXEC"], .error("ERR EXEC without MULTI")),
            (["DISCARD"], .error("ERR DISCARD without MULTI")),
            (["MULTI"], .ok),
            (["MULTI"], .error("ERR MULTI calls can not be nested")),
            (["WATCH", "a"], .error("ERR WATCH inside MULTI is not allowed")),
            (["SET", "a", "1"], .simple("QUEUED")),
            (["EXEC"], .array([.ok])),
            // Runtime errors are per-command replies and roll nothing back.
            (["MULTI"], .ok),
            (["INCR", "a"], .simple("QUEUED")),
            (["SET", "b", "x"], .simple("QUEUED")),
            (["INCR", "b"], .simple("QUEUED")),
            (["GET", "a"], .simple("QUEUED")),
            (["EXEC"], .array([.integer(2), .ok, notInteger, .bulk("2")])),
            // Errors while queuing doom the transaction.
            (["MULTI"], .ok),
            (["SET", "a", "9"], .simple("QUEUED")),
            (["NOSUCH"], .error("ERR unknown command 'NOSUCH', with args beginning with: ")),
            (["GET"], .error("ERR wrong number of arguments for 'get' command")),
            (["EXEC"], .error("EXECABORT Transaction discarded because of previous errors.")),
            (["GET", "a"], .bulk("2")),
            // DISCARD drops the queue.
            (["MULTI"], .ok),
            (["SET", "a", "discarded"], .simple("QUEUED")),
            (["DISCARD"], .ok),
            (["GET", "a"], .bulk("2")),
            // SELECT inside MULTI moves the rest of the queue, and the client stays there.
            (["MULTI"], .ok),
            (["SELECT", "2"], .simple("QUEUED")),
            (["SET", "z", "1"], .simple("QUEUED")),
            (["SELECT", "99"], .simple("QUEUED")),
            (["EXEC"], .array([.ok, .ok, .error("ERR DB index is out of range")])),
            (["DBSIZE"], .integer(1)),
            (["SELECT", "0"], .ok),
            // Whole-database and whole-keyspace commands inside a transaction.
            (["MULTI"], .ok),
            (["DBSIZE"], .simple("QUEUED")),
            (["SWAPDB", "0", "2"], .simple("QUEUED")),
            (["DBSIZE"], .simple("QUEUED")),
            (["KEYS", "*"], .simple("QUEUED")),
            (["FLUSHDB"], .simple("QUEUED")),
            (["RANDOMKEY"], .simple("QUEUED")),
            (["FLUSHALL"], .simple("QUEUED")),
            (["EXEC"], .array([.integer(2), .ok, .integer(1), .array([.bulk("z")]), .ok, .null, .ok])),
            (["MULTI"], .ok),
            (["EXEC"], .array([])),
            // RESET ends a transaction.
            (["MULTI"], .ok),
            (["RESET"], .simple("RESET")),
            (["EXEC"], .error("ERR EXEC without MULTI")),
        ])
    }

    /// CLIENT LIST shows an open MULTI as Redis does: flag x, the number of queued commands, the last one.
    @Test func clientListShowsAnOpenTransaction() throws {
        let server = try TestServer()
        let client = try server.client()
        let observer = try server.client()
        try client.send("MULTI\r\nSET x 1\r\nGET x\r\n")
        for _ in 0..<3 { _ = try client.readReply() }
        let list = try observer.call("CLIENT", "LIST").string ?? ""
        let line = list.split(separator: "\n").first { !$0.contains("cmd=client|list") } ?? ""
        #expect(line.contains(" flags=x ") && line.contains(" multi=2 ") && line.contains(" cmd=get "), "\(line)")
        #expect(try client.call("EXEC") == .array([.ok, .bulk("1")]))
        let after = try observer.call("CLIENT", "LIST").string ?? ""
        #expect(after.contains(" flags=x ") == false && after.contains(" multi=2 ") == false)
    }

    @Test func infoAndSaveRunInsideATransaction() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shoal-tx-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try TestServer { $0.dir = directory }
        let client = try server.client()
        try client.send("MULTI\r\nSET k v\r\nINFO keyspace\r\nSAVE\r\nCONFIG RESETSTAT\r\nSCAN 0\r\nEXEC\r\n")
        for _ in 0..<6 { _ = try client.readReply() }
        guard case .array(let replies) = try client.readReply(), replies.count == 5 else { throw TestError("EXEC") }
        #expect(replies[0] == .ok)
        #expect(replies[1].string?.contains("db0:keys=1,expires=0") == true)
        #expect(replies[2] == .ok)
        #expect(replies[3] == .ok)
        guard case .array(let scan) = replies[4], scan.count == 2 else { throw TestError("SCAN") }
        #expect(FileManager.default.fileExists(atPath: directory + "/dump.shoal"))
    }

    /// Inline commands (netcat) and RESP3 (null for a failed WATCH is `_`).
    @Test func inlineAndRESP3Transactions() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.send("MULTI\r\nSET a 1\r\nINCR a\r\nEXEC\r\n")
        #expect(try client.readReply() == .ok)
        #expect(try client.readReply() == .simple("QUEUED"))
        #expect(try client.readReply() == .simple("QUEUED"))
        #expect(try client.readReply() == .array([.ok, .integer(2)]))
        guard case .map = try client.call("HELLO", "3") else { throw TestError("HELLO 3") }
        #expect(try client.call("WATCH", "a") == .ok)
        #expect(try server.client().call("SET", "a", "5") == .ok)
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("GET", "a") == .simple("QUEUED"))
        try client.sendCommand(["EXEC"])
        var raw: [UInt8] = []
        var byte: UInt8 = 0
        while raw.suffix(2) != [13, 10] {
            guard read(client.fd, &byte, 1) == 1 else { throw TestError("read") }
            raw.append(byte)
        }
        #expect(raw == Array("_\r\n".utf8))
    }

    /// A watched key changed by anyone, in any way, makes EXEC answer a null array; an unchanged one doesn't.
    @Test(arguments: [
        ["SET", "w", "other"], ["DEL", "w"], ["EXPIRE", "w", "100"], ["APPEND", "w", "x"], ["INCR", "n"],
        ["RENAME", "w", "elsewhere"], ["FLUSHDB"], ["FLUSHALL"], ["SWAPDB", "0", "1"], ["MOVE", "w", "3"],
        ["COPY", "src", "w", "REPLACE"], ["GETDEL", "w"], ["SET", "w", "v"], ["PERSIST", "t"],
    ])
    func anyModificationOfAWatchedKeyFailsExec(modification: [String]) throws {
        let server = try TestServer()
        let client = try server.client()
        let other = try server.client()
        try client.call("SET", "w", "v")
        try client.call("SET", "n", "1")
        try client.call("SET", "t", "1", "EX", "100")
        try client.call("SET", "src", "s")
        #expect(try client.call("WATCH", "w", "n", "t") == .ok)
        _ = try other.call(modification)
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("SET", "result", "ran") == .simple("QUEUED"))
        #expect(try client.call("EXEC") == .null, "\(modification)")
        #expect(try client.call("GET", "result") == .null)
        // After EXEC nothing is watched any more.
        _ = try other.call(modification)
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("SET", "result", "ran") == .simple("QUEUED"))
        #expect(try client.call("EXEC") == .array([.ok]))
    }

    @Test func unchangedOrUnwatchedKeysLetExecRun() throws {
        let server = try TestServer()
        let client = try server.client()
        let other = try server.client()
        try client.call("SET", "w", "v")
        #expect(try client.call("WATCH", "w", "missing") == .ok)
        try other.call("SET", "unrelated", "x")
        try other.call("GET", "w")
        try other.call("FLUSHDB", "SYNC")  // flushes w: a change
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("EXEC") == .null)
        // A missing watched key that stays missing through a flush is no change (Redis's touchAllWatchedKeysInDb).
        #expect(try client.call("WATCH", "missing") == .ok)
        try other.call("FLUSHALL")
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("EXEC") == .array([]))
        // UNWATCH and DISCARD forget the watches; the same key name in another database is another key.
        #expect(try client.call("WATCH", "w") == .ok)
        #expect(try client.call("UNWATCH") == .ok)
        try other.call("SET", "w", "changed")
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("EXEC") == .array([]))
        #expect(try client.call("SELECT", "4") == .ok)
        #expect(try client.call("WATCH", "w") == .ok)
        try other.call("SET", "w", "changed again")
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("EXEC") == .array([]))
    }

    /// A watched key whose deadline passes before EXEC is gone, though nobody deleted it (Redis 7's
    /// isWatchedKeyExpired); one already expired when watched is not a change.
    @Test func watchedKeyThatExpiresFailsExec() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.call("SET", "e", "v", "PX", "50")
        #expect(try client.call("WATCH", "e") == .ok)
        usleep(120_000)
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("EXEC") == .null)
        try client.call("SET", "e", "v", "PX", "1")
        usleep(20_000)
        #expect(try client.call("WATCH", "e") == .ok)
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("EXEC") == .array([]))
    }

    /// Keys that the server itself removes count as changes too: the active expiry cycle and eviction.
    @Test func activeExpiryAndEvictionOfAWatchedKeyFailExec() throws {
        let server = try TestServer { $0.hz = 50 }
        let client = try server.client()
        try client.call("SET", "soon", "v", "PX", "100")
        #expect(try client.call("WATCH", "soon") == .ok)
        // Wait for the cron's cycle to reclaim it (no client touches it meanwhile).
        #expect(waitUntil { server.state.keyspace.keyCounts()[0].keys == 0 })
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("EXEC") == .null)

        try client.call("SET", "victim", "v", "EX", "5")
        #expect(try client.call("WATCH", "victim") == .ok)
        let filler = try server.client()
        #expect(try filler.call("CONFIG", "SET", "maxmemory-policy", "volatile-ttl") == .ok)
        #expect(try filler.call("CONFIG", "SET", "maxmemory", "2mb") == .ok)
        let value = String(repeating: "f", count: 500)
        var evicted = false
        for i in 0..<20_000 where !evicted {
            guard try filler.call("SET", "fill:\(i)", value, "EX", "1000") == .ok else { throw TestError("SET") }
            if i % 100 == 99 { evicted = try filler.call("EXISTS", "victim") == .integer(0) }
        }
        #expect(evicted)
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("EXEC") == .null)
    }

    /// Over maxmemory with nothing to evict: queuing refuses (and dooms the transaction), and an EXEC whose
    /// queue would grow memory is aborted with Redis's text.
    @Test func outOfMemoryRefusesQueuingAndAbortsExec() throws {
        let server = try TestServer()
        let client = try server.client()
        let admin = try server.client()
        #expect(try admin.call("CONFIG", "SET", "maxmemory", "1") == .ok)
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("GET", "q") == .error("OOM command not allowed when used memory > 'maxmemory'."))
        #expect(try client.call("EXEC") == .error("EXECABORT Transaction discarded because of previous errors."))
        #expect(try admin.call("CONFIG", "SET", "maxmemory", "0") == .ok)
        #expect(try client.call("MULTI") == .ok)
        #expect(try client.call("SET", "q", "1") == .simple("QUEUED"))
        #expect(try admin.call("CONFIG", "SET", "maxmemory", "1") == .ok)
        #expect(
            try client.call("EXEC")
                == .error(
                    "EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'."
                ))
        #expect(try admin.call("CONFIG", "SET", "maxmemory", "0") == .ok)
        #expect(try client.call("GET", "q") == .null)
    }

    /// Transfers between two keys in different shards, by many clients at once: no reader ever sees the
    /// money in flight (inside a transaction or with MGET), and the sum never changes.
    @Test func transfersAcrossShardsAreNeverSeenHalfDone() throws {
        let server = try TestServer()
        let (a, b) = keysInDifferentShards(server, prefix: "account")
        let setup = try server.client()
        #expect(try setup.call("MSET", a, "5000", b, "5000") == .ok)
        let torn = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        try concurrently(12) { index in
            let client = try server.client()
            if index < 8 {
                for round in 0..<150 {
                    let amount = String((index * 31 + round) % 97)
                    let (from, to) = round % 2 == 0 ? (a, b) : (b, a)
                    var batch: [UInt8] = []
                    batch.appendCommand(["MULTI"])
                    batch.appendCommand(["DECRBY", from, amount])
                    batch.appendCommand(["INCRBY", to, amount])
                    batch.appendCommand(["EXEC"])
                    try client.send(batch)
                    guard try client.readReply() == .ok, try client.readReply() == .simple("QUEUED"),
                        try client.readReply() == .simple("QUEUED"),
                        case .array(let results) = try client.readReply(), results.count == 2
                    else { throw TestError("transfer") }
                }
            } else {
                for round in 0..<300 {
                    let values: [RESPValue]
                    if round % 2 == 0 {
                        guard case .array(let got) = try client.call("MGET", a, b) else { throw TestError("MGET") }
                        values = got
                    } else {
                        try client.send("MULTI\r\nGET \(a)\r\nGET \(b)\r\nEXEC\r\n")
                        for _ in 0..<3 { _ = try client.readReply() }
                        guard case .array(let got) = try client.readReply() else { throw TestError("EXEC") }
                        values = got
                    }
                    let sum = values.compactMap { $0.string.flatMap { Int($0) } }.reduce(0, +)
                    if sum != 10_000 { torn.add(1, ordering: .relaxed) }
                    reads.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(reads.load(ordering: .relaxed) == 4 * 300)
        #expect(torn.load(ordering: .relaxed) == 0)
        guard case .array(let final) = try setup.call("MGET", a, b) else { throw TestError("MGET") }
        #expect(final.compactMap { $0.string.flatMap { Int($0) } }.reduce(0, +) == 10_000)
    }

    /// 20 clients doing optimistic increments (WATCH, GET, MULTI, SET n+1, EXEC, retry on null) end on the
    /// exact count: WATCH never lets a lost update through.
    @Test func optimisticIncrementsWithWatchEndOnTheExactCount() throws {
        let server = try TestServer()
        let perClient = 25
        let retries = Atomic<Int>(0)
        try concurrently(20) { _ in
            let client = try server.client()
            var done = 0
            var attempts = 0
            while done < perClient {
                attempts += 1
                guard attempts < 100_000 else { throw TestError("no progress") }
                guard try client.call("WATCH", "counter") == .ok else { throw TestError("WATCH") }
                let current = try client.call("GET", "counter").string.flatMap { Int($0) } ?? 0
                try client.send("MULTI\r\nSET counter \(current + 1)\r\nEXEC\r\n")
                _ = try client.readReply()
                _ = try client.readReply()
                switch try client.readReply() {
                case .null: retries.add(1, ordering: .relaxed)
                case .array([.ok]): done += 1
                case let other: throw TestError("EXEC: \(other)")
                }
            }
        }
        let client = try server.client()
        #expect(try client.call("GET", "counter") == .bulk(String(20 * perClient)))
    }
}
