import Foundation
import Logging
import RESP
import ShoalPosix
import ShoalServer
import Synchronization
import Testing

/// The guarantees people pick Shoal for, checked over real sockets with truly concurrent clients.
@Suite struct AtomicityTests {
    /// 50 clients pipelining INCRBY on one key end on the exact sum.
    @Test func fiftyClientsIncrementingOneKeyEndOnTheExactSum() throws {
        let server = try TestServer()
        let perClient = 400
        let expected = Atomic<Int>(0)
        try concurrently(50) { index in
            let client = try server.client()
            var batch: [UInt8] = []
            var sum = 0
            for i in 0..<perClient {
                let amount = (index * 7 + i) % 13 - 3  // includes negatives and zero
                sum += amount
                batch.appendCommand(["INCRBY", "counter", String(amount)])
            }
            try client.send(batch)
            for _ in 0..<perClient {
                guard case .integer = try client.readReply() else { throw TestError("INCRBY must answer an integer") }
            }
            expected.add(sum, ordering: .relaxed)
        }
        let client = try server.client()
        #expect(try client.call("GET", "counter") == .bulk(String(expected.load(ordering: .relaxed))))
    }

    /// A writer doing MSET of keys that live in different shards is never seen half-applied by MGET.
    @Test func msetIsNeverSeenHalfAppliedByMget() throws {
        let server = try TestServer()
        let keys = (0..<8).map { "group:\($0)" }
        let rounds = 1500
        let torn = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        try concurrently(5) { index in
            let client = try server.client()
            if index == 0 {
                for generation in 0..<rounds {
                    let reply = try client.call(["MSET"] + keys.flatMap { [$0, String(generation)] })
                    guard reply == .ok else { throw TestError("MSET: \(reply)") }
                }
            } else {
                for _ in 0..<rounds {
                    guard case .array(let values) = try client.call(["MGET"] + keys) else { throw TestError("MGET") }
                    if Set(values.map(\.description)).count != 1 { torn.add(1, ordering: .relaxed) }
                    reads.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(reads.load(ordering: .relaxed) == 4 * rounds)
        #expect(torn.load(ordering: .relaxed) == 0)
    }

    /// Members moved back and forth by SMOVE between two sets in different shards: a reader's SUNIONSTORE (which
    /// holds both shards) always finds all of them exactly once, and concurrent HINCRBYs sum exactly.
    @Test func smoveAndHashIncrementsAreAtomic() throws {
        let server = try TestServer()
        let members = (0..<20).map { "m\($0)" }
        let setup = try server.client()
        #expect(try setup.call(["SADD", "{a}left"] + members) == .integer(20))
        let rounds = 400
        let torn = Atomic<Int>(0)
        try concurrently(5) { index in
            let client = try server.client()
            switch index {
            case 0, 1:
                let (from, to) = index == 0 ? ("{a}left", "right{b}") : ("right{b}", "{a}left")
                for round in 0..<rounds {
                    let reply = try client.call("SMOVE", from, to, members[round % members.count])
                    guard case .integer = reply else { throw TestError("SMOVE: \(reply)") }
                }
            case 2:
                for _ in 0..<rounds {
                    let reply = try client.call("SUNIONSTORE", "all", "{a}left", "right{b}")
                    if reply != .integer(20) { torn.add(1, ordering: .relaxed) }
                }
            default:
                for _ in 0..<rounds {
                    let reply = try client.call("HINCRBY", "counters", "hits", "3")
                    guard case .integer = reply else { throw TestError("HINCRBY: \(reply)") }
                }
            }
        }
        #expect(torn.load(ordering: .relaxed) == 0)
        #expect(try setup.call("SCARD", "all") == .integer(20))
        #expect(try setup.call("HGET", "counters", "hits") == .bulk(String(2 * rounds * 3)))
    }

    /// Consumers blocked in BLPOP on both event loops, producers pushing from both: every element is delivered
    /// exactly once (the pusher's thread serves waiters of another loop through its mailbox).
    @Test func blockedPopsAcrossLoopsDeliverEveryElementOnce() throws {
        let server = try TestServer()
        let producers = 2
        let perProducer = 300
        let total = producers * perProducer
        let received = LockedBox<[String]>([])
        try concurrently(6) { index in
            let client = try server.client()
            if index < producers {
                for item in 0..<perProducer {
                    let reply = try client.call("RPUSH", "jobs", "p\(index)-\(item)")
                    guard case .integer = reply else { throw TestError("RPUSH: \(reply)") }
                }
            } else {
                while received.withLock({ $0.count }) < total {
                    let reply = try client.call("BLPOP", "jobs", "0.2")
                    switch reply {
                    case .array(let pair): received.withLock { $0.append(pair[1].description) }
                    case .null: continue
                    default: throw TestError("BLPOP: \(reply)")
                    }
                }
            }
        }
        let all = received.withLock { $0 }
        #expect(all.count == total)
        #expect(Set(all).count == total)
        #expect(try server.client().call("LLEN", "jobs") == .integer(0))
    }

    /// Of N clients racing `SET lock x NX`, exactly one wins, round after round.
    @Test func exactlyOneSetNXWinner() throws {
        let server = try TestServer()
        let clients = 20
        let rounds = 50
        let winners = LockedBox<[Int]>(Array(repeating: 0, count: rounds))
        try concurrently(clients) { index in
            let client = try server.client()
            for round in 0..<rounds {
                let reply = try client.call("SET", "lock:\(round)", "owner\(index)", "NX")
                if reply == .ok {
                    winners.withLock { $0[round] += 1 }
                } else if reply != .null {
                    throw TestError("SET NX: \(reply)")
                }
            }
        }
        #expect(winners.withLock { $0 } == Array(repeating: 1, count: rounds))
    }

    /// A value handed over with GETDEL is received by exactly one of the racing clients.
    @Test func getdelHandsAValueOverExactlyOnce() throws {
        let server = try TestServer()
        let producer = try server.client()
        let items = 300
        for i in 0..<items { try producer.call("SET", "item:\(i)", "payload\(i)") }
        let received = LockedBox<[String]>([])
        try concurrently(10) { _ in
            let client = try server.client()
            var mine: [String] = []
            for i in 0..<items {
                if case .bulk(let bytes) = try client.call("GETDEL", "item:\(i)") {
                    mine.append(String(decoding: bytes, as: UTF8.self))
                }
            }
            received.withLock { $0 += mine }
        }
        let all = received.withLock { $0 }
        #expect(all.count == items)
        #expect(Set(all).count == items)
    }

    /// RENAME back and forth between shards from many clients never loses or duplicates the key.
    @Test func renameNeverLosesOrDuplicatesAKey() throws {
        let server = try TestServer()
        let setup = try server.client()
        try setup.call("SET", "ping", "ball")
        try concurrently(6) { index in
            let client = try server.client()
            for _ in 0..<300 {
                let (from, to) = index % 2 == 0 ? ("ping", "pong") : ("pong", "ping")
                let reply = try client.call("RENAME", from, to)
                if reply != .ok && reply != .error("ERR no such key") { throw TestError("RENAME: \(reply)") }
            }
        }
        #expect(try setup.call("EXISTS", "ping", "pong") == .integer(1))
        let values = [try setup.call("GET", "ping"), try setup.call("GET", "pong")]
        #expect(values.filter { $0 == .bulk("ball") }.count == 1)
    }
}
