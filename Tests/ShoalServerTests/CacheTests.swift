import Foundation
import RESP
import Testing

@testable import ShoalServer

func infoField(_ client: TestClient, _ section: String, _ field: String) throws -> String {
    guard let text = try client.call("INFO", section).string else { throw TestError("INFO \(section)") }
    guard let line = text.split(separator: "\r\n").first(where: { $0.hasPrefix("\(field):") }) else {
        throw TestError("INFO \(section) lacks \(field)")
    }
    return String(line.dropFirst(field.count + 1))
}

@Suite struct CacheTests {
    @Test func noevictionRefusesWritesButKeepsReadsAndDeletes() throws {
        let server = try TestServer {
            $0.maxmemory = 2 * 1024 * 1024
            $0.maxmemoryPolicy = "noeviction"
        }
        let client = try server.client()
        let value = String(repeating: "v", count: 1000)
        var refused = false
        for i in 0..<10_000 {
            let reply = try client.call("SET", "key:\(i)", value)
            if reply == .error("OOM command not allowed when used memory > 'maxmemory'.") {
                refused = true
                break
            }
            #expect(reply == .ok)
        }
        #expect(refused)
        #expect(try client.call("GET", "key:1") == .bulk(value))
        #expect(try client.call("INCR", "counter") == .error("OOM command not allowed when used memory > 'maxmemory'."))
        #expect(try client.call("DEL", "key:1", "key:2", "key:3", "key:4", "key:5") == .integer(5))
        #expect(try client.call("SET", "again", "x") == .ok)
        #expect(try infoField(client, "stats", "evicted_keys") == "0")
    }

    @Test(arguments: ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
    func sustainedWritesStayWithinASmallMarginOfMaxmemory(policy: String) throws {
        let limit = 4 * 1024 * 1024
        let server = try TestServer {
            $0.maxmemory = limit
            $0.maxmemoryPolicy = policy
        }
        let client = try server.client()
        let value = String(repeating: "x", count: 200)
        var peak = 0
        for batch in 0..<40 {
            var bytes: [UInt8] = []
            for i in 0..<500 { bytes.appendCommand(["SET", "key:\(batch):\(i)", value]) }
            try client.send(bytes)
            for _ in 0..<500 { #expect(try client.readReply() == .ok) }
            peak = max(peak, Int(try infoField(client, "memory", "used_memory"))!)
        }
        #expect(peak <= limit + limit / 50, "used_memory peaked at \(peak) for maxmemory \(limit)")
        #expect(Int(try infoField(client, "stats", "evicted_keys"))! > 0)
        #expect(try infoField(client, "memory", "maxmemory_policy") == policy)
        #expect(try client.call("CONFIG", "RESETSTAT") == .ok)
        #expect(try infoField(client, "stats", "evicted_keys") == "0")
    }

    @Test func volatilePolicyNeverEvictsKeysWithoutTTL() throws {
        let server = try TestServer {
            $0.maxmemory = 3 * 1024 * 1024
            $0.maxmemoryPolicy = "volatile-lru"
        }
        let client = try server.client()
        let value = String(repeating: "p", count: 300)
        for i in 0..<2000 { #expect(try client.call("SET", "persistent:\(i)", value) == .ok) }
        for i in 0..<20_000 {
            let reply = try client.call("SET", "volatile:\(i)", value, "EX", "1000")
            if reply != .ok {
                #expect(reply == .error("OOM command not allowed when used memory > 'maxmemory'."))
                break
            }
        }
        for i in 0..<2000 { #expect(try client.call("EXISTS", "persistent:\(i)") == .integer(1)) }
        #expect(Int(try infoField(client, "stats", "evicted_keys"))! > 0)
    }

    @Test func objectAndMemoryIntrospection() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.call("SET", "n", "123")
        try client.call("SET", "s", "short")
        try client.call("SET", "r", String(repeating: "x", count: 100))
        #expect(try client.call("OBJECT", "ENCODING", "n") == .bulk("int"))
        #expect(try client.call("OBJECT", "ENCODING", "s") == .bulk("embstr"))
        #expect(try client.call("OBJECT", "ENCODING", "r") == .bulk("raw"))
        #expect(try client.call("OBJECT", "ENCODING", "missing") == .null)
        #expect(try client.call("OBJECT", "REFCOUNT", "n") == .integer(Int64(Int32.max)))
        #expect(try client.call("OBJECT", "REFCOUNT", "s") == .integer(1))
        #expect(try client.call("OBJECT", "IDLETIME", "s") == .integer(0))
        guard case .error(let freqError) = try client.call("OBJECT", "FREQ", "s") else {
            throw TestError("FREQ under LRU")
        }
        #expect(freqError.hasPrefix("ERR An LFU maxmemory policy is not selected"))
        guard case .integer(let usage) = try client.call("MEMORY", "USAGE", "r") else {
            throw TestError("MEMORY USAGE")
        }
        #expect(usage > 100 && usage < 400)
        #expect(try client.call("MEMORY", "USAGE", "missing") == .null)
        #expect(try client.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu") == .ok)
        for _ in 0..<100 { try client.call("GET", "s") }
        guard case .integer(let frequency) = try client.call("OBJECT", "FREQ", "s") else { throw TestError("FREQ") }
        #expect(frequency > 5)
        guard case .error(let idleError) = try client.call("OBJECT", "IDLETIME", "s") else {
            throw TestError("IDLETIME under LFU")
        }
        #expect(idleError.hasPrefix("ERR An LFU maxmemory policy is selected"))
        #expect(
            try client.call("CONFIG", "SET", "maxmemory-policy", "bogus")
                == .error(
                    "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
                ))
        for field in ["used_memory", "used_memory_human", "used_memory_rss", "maxmemory", "mem_fragmentation_ratio"] {
            _ = try infoField(client, "memory", field)
        }
    }
}
