import Foundation
import RESP
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Hostile clients, each over its own socket while a well-behaved client keeps working: Redis's error text
/// where Redis sends one, only that connection closed, and server memory bounded afterwards.
@Suite struct HostileClientTests {
    static let cases: [(String, [UInt8], String)] = [
        ("huge bulk length", Array("*1\r\n$999999999999\r\n".utf8), "ERR Protocol error: invalid bulk length"),
        ("negative bulk length", Array("*1\r\n$-7\r\n".utf8), "ERR Protocol error: invalid bulk length"),
        ("non-numeric bulk length", Array("*1\r\n$abc\r\n".utf8), "ERR Protocol error: invalid bulk length"),
        (
            "multibulk count past the limit", Array("*3000000000\r\n".utf8),
            "ERR Protocol error: invalid multibulk length"
        ),
        ("non-numeric multibulk count", Array("*x\r\n".utf8), "ERR Protocol error: invalid multibulk length"),
        ("bulk without its $", Array("*1\r\nGET\r\n".utf8), "ERR Protocol error: expected '$', got 'G'"),
        (
            "inline line past 64 KB", Array(repeating: UInt8(ascii: "a"), count: 70_000),
            "ERR Protocol error: too big inline request"
        ),
        ("unbalanced quotes", Array("SET a \"b\r\n".utf8), "ERR Protocol error: unbalanced quotes in request"),
        ("binary garbage", [0x2A, 0xFF, 0x00, 0x13, 0x37, 0x0D, 0x0A], "ERR Protocol error: invalid multibulk length"),
    ]

    @Test(arguments: cases.indices)
    func hostileRequestGetsRedisErrorAndOnlyItsConnectionCloses(caseIndex: Int) throws {
        let (name, bytes, expected) = Self.cases[caseIndex]
        let server = try TestServer()
        let good = try server.client()
        try good.call("SET", "k", "v")
        let bad = try server.client()
        try bad.send(bytes)
        #expect(try bad.readReply() == .error(expected), "\(name)")
        #expect(bad.isClosedByServer(), "\(name)")
        #expect(try good.call("GET", "k") == .bulk("v"), "\(name)")
        let used = try good.usedMemory()
        #expect(used < 8_000_000, "\(name): \(used) bytes in use after the hostile client")
    }

    /// Requests that stop half-way (a trickle that never completes) are closed by `timeout` once they go quiet,
    /// 50 of them at once, while another client's commands are answered throughout.
    @Test func halfSentRequestsAreClosedByTimeoutWhileOthersAreServed() throws {
        let server = try TestServer { $0.timeout = 1 }
        var stalled: [TestClient] = []
        for i in 0..<50 {
            let client = try server.client()
            try client.send(i % 2 == 0 ? "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc" : "SET k \"never ends")
            stalled.append(client)
        }
        let good = try server.client()
        for round in 0..<20 {
            #expect(try good.call("SET", "live", String(round)) == .ok)
            usleep(50_000)
        }
        for client in stalled { #expect(client.isClosedByServer()) }
        #expect(try server.client().call("GET", "live") == .bulk("19"))
    }
}
