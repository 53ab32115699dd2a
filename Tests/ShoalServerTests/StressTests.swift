import Foundation
import RESP
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The invariants of issue 7, under load over real sockets: many clients at once on both I/O threads, each
/// check made at the end on what the server holds, not just "no crash". Every loop is bounded by a count.
@Suite struct StressTests {
    /// INCRBY, DECRBY and INCRBYFLOAT from 16 pipelining clients over 40 keys: every key ends on its exact
    /// total. (Float increments are multiples of 1/4, exact in binary, so the total is exact too.)
    @Test func countersOverManyKeysEndExact() throws {
        let server = try TestServer()
        let clients = 16
        let perClient = 600
        let keys = 40
        let totals = LockedBox<[Int64]>(Array(repeating: 0, count: keys))
        let floatTotals = LockedBox<[Double]>(Array(repeating: 0, count: keys))
        try concurrently(clients) { index in
            let client = try server.client()
            var generator = SystemRandomNumberGenerator()
            var mine = [Int64](repeating: 0, count: keys)
            var mineFloat = [Double](repeating: 0, count: keys)
            var batch: [UInt8] = []
            for _ in 0..<perClient {
                let key = Int.random(in: 0..<keys, using: &generator)
                let amount = Int64.random(in: -1000...1000, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0:
                    batch.appendCommand(["INCRBY", "n:\(key)", String(amount)])
                    mine[key] += amount
                case 1:
                    batch.appendCommand(["DECRBY", "n:\(key)", String(amount)])
                    mine[key] -= amount
                default:
                    let increment = Double(amount) / 4
                    batch.appendCommand(["INCRBYFLOAT", "f:\(key)", String(increment)])
                    mineFloat[key] += increment
                }
            }
            try client.send(batch)
            for _ in 0..<perClient {
                let reply = try client.readReply()
                if case .error(let message) = reply { throw TestError("client \(index): \(message)") }
            }
            totals.withLock { for key in 0..<keys { $0[key] += mine[key] } }
            floatTotals.withLock { for key in 0..<keys { $0[key] += mineFloat[key] } }
        }
        let reader = try server.client()
        let expected = totals.withLock { $0 }
        let expectedFloat = floatTotals.withLock { $0 }
        for key in 0..<keys {
            let value = try reader.call("GET", "n:\(key)")
            #expect(value == .null && expected[key] == 0 || value == .bulk(String(expected[key])), "n:\(key)")
            let float = try reader.call("GET", "f:\(key)").string.flatMap(Double.init)
            #expect(float == nil && expectedFloat[key] == 0 || float == expectedFloat[key], "f:\(key)")
        }
    }

    /// GET, SET and INCR on four keys from six clients, every operation timed from the client's side; each
    /// key's history must be linearizable (see `LinearizabilityChecker`). `throughTransactions`: half the
    /// clients send each operation inside MULTI/EXEC, so transactions must be linearizable with plain commands.
    @Test(arguments: [false, true])
    func singleKeyRegisterHistoriesAreLinearizable(throughTransactions: Bool) throws {
        let server = try TestServer()
        let clients = 6
        let perClient = 250
        let keys = 4
        let histories = LockedBox<[[RegisterOperation]]>(Array(repeating: [], count: keys))
        try concurrently(clients) { index in
            let client = try server.client()
            let transactional = throughTransactions && index % 2 == 1
            func call(_ arguments: String...) throws -> RESPValue {
                guard transactional else { return try client.call(arguments) }
                var batch: [UInt8] = []
                batch.appendCommand(["MULTI"])
                batch.appendCommand(arguments)
                batch.appendCommand(["EXEC"])
                try client.send(batch)
                guard try client.readReply() == .ok, try client.readReply() == .simple("QUEUED"),
                    case .array(let replies) = try client.readReply(), replies.count == 1
                else { throw TestError("MULTI/EXEC") }
                return replies[0]
            }
            var generator = SystemRandomNumberGenerator()
            var mine: [[RegisterOperation]] = Array(repeating: [], count: keys)
            for step in 0..<perClient {
                let key = Int.random(in: 0..<keys, using: &generator)
                let invoked = monotonicNanoseconds()
                let kind: RegisterOperation.Kind
                switch Int.random(in: 0..<3, using: &generator) {
                case 0:
                    let value = Int64(index * 1_000_000 + step)  // unique, so a stale read can't pass as fresh
                    guard try call("SET", "r:\(key)", String(value)) == .ok else { throw TestError("SET") }
                    kind = .set(value)
                case 1:
                    let reply = try call("GET", "r:\(key)")
                    if reply == .null {
                        kind = .get(nil)
                    } else if let text = reply.string, let value = Int64(text) {
                        kind = .get(value)
                    } else {
                        throw TestError("GET: \(reply)")
                    }
                default:
                    guard case .integer(let value) = try call("INCR", "r:\(key)") else {
                        throw TestError("INCR")
                    }
                    kind = .incr(value)
                }
                mine[key].append(
                    RegisterOperation(kind: kind, client: index, invoked: invoked, returned: monotonicNanoseconds()))
            }
            histories.withLock { for key in 0..<keys { $0[key] += mine[key] } }
        }
        let all = histories.withLock { $0 }
        #expect(all.reduce(0) { $0 + $1.count } == clients * perClient)
        for (key, history) in all.enumerated() {
            #expect(
                LinearizabilityChecker.isLinearizable(history), "r:\(key): \(history.count) operations not linearizable"
            )
        }
    }

    /// The checker itself must be able to say no: a lost update, a stale read, and a read of a value nobody
    /// wrote are each refused, while overlapping operations may take either order.
    @Test func linearizabilityCheckerRefusesImpossibleHistories() {
        func op(
            _ kind: RegisterOperation.Kind, _ invoked: UInt64, _ returned: UInt64, client: Int = 0
        ) -> RegisterOperation {
            RegisterOperation(kind: kind, client: client, invoked: invoked, returned: returned)
        }
        // Two INCRs one after the other can't both return 1.
        #expect(!LinearizabilityChecker.isLinearizable([op(.incr(1), 0, 10), op(.incr(1), 20, 30, client: 1)]))
        // A completed SET 5, then a GET that still sees nothing.
        #expect(!LinearizabilityChecker.isLinearizable([op(.set(5), 0, 10), op(.get(nil), 20, 30, client: 1)]))
        // SET 1 then SET 2, both done: a later GET must not see 1.
        #expect(
            !LinearizabilityChecker.isLinearizable([
                op(.set(1), 0, 10), op(.set(2), 20, 30), op(.get(1), 40, 50, client: 1),
            ]))
        // A value nobody wrote.
        #expect(!LinearizabilityChecker.isLinearizable([op(.set(1), 0, 10), op(.get(7), 20, 30, client: 1)]))
        // Overlapping: the GET may be ordered before or after the SET.
        #expect(LinearizabilityChecker.isLinearizable([op(.set(1), 0, 30), op(.get(nil), 10, 20, client: 1)]))
        #expect(LinearizabilityChecker.isLinearizable([op(.set(1), 0, 30), op(.get(1), 10, 20, client: 1)]))
        // INCRs racing each other, in either order.
        #expect(
            LinearizabilityChecker.isLinearizable([
                op(.incr(2), 0, 30), op(.incr(1), 5, 20, client: 1), op(.get(2), 40, 50),
            ]))
    }

    /// APPENDs from 8 clients are never interleaved inside one another: the final string is whole blocks, each
    /// of one writer's letter, and their count adds up. Short blocks keep the value inside the table node at
    /// first and outgrow it later, so both storage paths are covered.
    @Test(arguments: [12, 300])
    func appendsNeverInterleave(blockSize: Int) throws {
        let server = try TestServer()
        let clients = 8
        let perClient = 150
        try concurrently(clients) { index in
            let client = try server.client()
            let block = String(repeating: String(UnicodeScalar(UInt8(65 + index))), count: blockSize)
            var batch: [UInt8] = []
            for _ in 0..<perClient { batch.appendCommand(["APPEND", "log", block]) }
            try client.send(batch)
            for _ in 0..<perClient { guard case .integer = try client.readReply() else { throw TestError("APPEND") } }
        }
        guard case .bulk(let bytes) = try server.client().call("GET", "log") else { throw TestError("GET log") }
        #expect(bytes.count == clients * perClient * blockSize)
        var counts = [UInt8: Int]()
        for start in stride(from: 0, to: bytes.count, by: blockSize) {
            let block = bytes[start..<min(bytes.count, start + blockSize)]
            #expect(Set(block).count == 1, "block at \(start) mixes writers")
            counts[block.first!, default: 0] += 1
        }
        #expect(counts.values.allSatisfy { $0 == perClient })
    }

    /// SETRANGE writers overwrite the same range with their own letter while readers GET it: every value read
    /// is one writer's, never a mix.
    @Test(arguments: [20, 4000])
    func setrangeWritersNeverMixBytes(length: Int) throws {
        let server = try TestServer()
        try server.client().call("SET", "page", String(repeating: "A", count: length))
        let mixed = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        try concurrently(6) { index in
            let client = try server.client()
            for _ in 0..<400 {
                if index < 4 {
                    let letter = String(UnicodeScalar(UInt8(65 + index)))
                    guard
                        case .integer = try client.call(
                            "SETRANGE", "page", "0", String(repeating: letter, count: length))
                    else {
                        throw TestError("SETRANGE")
                    }
                } else {
                    guard case .bulk(let bytes) = try client.call("GET", "page") else { throw TestError("GET") }
                    if Set(bytes).count != 1 || bytes.count != length { mixed.add(1, ordering: .relaxed) }
                    reads.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(reads.load(ordering: .relaxed) == 800)
        #expect(mixed.load(ordering: .relaxed) == 0)
    }

    /// A token MOVEd back and forth between databases 0 and 1 by six clients is, at the end, in exactly one
    /// of them; COPY of a value a writer keeps replacing always copies one whole value.
    @Test func moveAndCopyNeverLoseDuplicateOrTear() throws {
        let server = try TestServer()
        let setup = try server.client()
        try setup.call("SET", "token", "t")
        try setup.call("SET", "source", String(repeating: "A", count: 5000))
        let torn = Atomic<Int>(0)
        try concurrently(10) { index in
            let client = try server.client()
            switch index {
            case 0..<6:
                try client.call("SELECT", String(index % 2))
                for _ in 0..<300 {
                    guard case .integer = try client.call("MOVE", "token", String(1 - index % 2)) else {
                        throw TestError("MOVE")
                    }
                }
            case 6:
                for round in 0..<300 {
                    let letter = String(UnicodeScalar(UInt8(65 + round % 26)))
                    try client.call("SET", "source", String(repeating: letter, count: 5000 + round % 7))
                }
            default:
                for _ in 0..<300 {
                    guard try client.call("COPY", "source", "copy:\(index)", "REPLACE") == .integer(1) else {
                        throw TestError("COPY")
                    }
                    guard case .bulk(let bytes) = try client.call("GET", "copy:\(index)") else {
                        throw TestError("GET copy")
                    }
                    if Set(bytes).count != 1 { torn.add(1, ordering: .relaxed) }
                }
            }
        }
        let inZero = try setup.call("EXISTS", "token")
        try setup.call("SELECT", "1")
        let inOne = try setup.call("EXISTS", "token")
        #expect([inZero, inOne].filter { $0 == .integer(1) }.count == 1)
        #expect(torn.load(ordering: .relaxed) == 0)
    }

    /// Keys set with a deadline a few milliseconds ahead are never returned once the client's own clock (the
    /// same wall clock) has passed the deadline: not by GET, EXISTS, TTL or MGET, while other clients keep the
    /// server busy and the active expiry cycle runs.
    @Test func expiredKeysAreNeverReturned() throws {
        let server = try TestServer { $0.hz = 100 }
        let seen = Atomic<Int>(0)
        let checked = Atomic<Int>(0)
        try concurrently(8) { index in
            let client = try server.client()
            for round in 0..<120 {
                let key = "ttl:\(index):\(round)"
                let deadline = Int64(Date().timeIntervalSince1970 * 1000) + Int64(1 + round % 15)
                guard try client.call("SET", key, "v", "PXAT", String(deadline)) == .ok else {
                    throw TestError("SET PXAT")
                }
                while Int64(Date().timeIntervalSince1970 * 1000) <= deadline { usleep(200) }
                let replies = [
                    try client.call("GET", key), try client.call("EXISTS", key), try client.call("TTL", key),
                    try client.call("MGET", key),
                ]
                if replies != [.null, .integer(0), .integer(-2), .array([.null])] { seen.add(1, ordering: .relaxed) }
                checked.add(1, ordering: .relaxed)
            }
        }
        #expect(checked.load(ordering: .relaxed) == 8 * 120)
        #expect(seen.load(ordering: .relaxed) == 0)
    }
}
