import Foundation
import Logging
import RESP
import ShoalPosix
import ShoalServer
import Synchronization
import Testing

/// Connections as the network sees them: pipelining, backpressure, limits, timeouts, authentication.
@Suite struct NetworkTests {
    @Test func pipelinedMixOfInlineAndMultibulkIsAnsweredInOrder() throws {
        let server = try TestServer()
        let client = try server.client()
        var bytes = Array("SET a 1\r\nINCR a\nPING\r\n".utf8)
        bytes.appendCommand(["GET", "a"])
        bytes += Array("ECHO \"two words\"\r\n".utf8)
        try client.send(bytes)
        #expect(try client.readReply() == .ok)
        #expect(try client.readReply() == .integer(2))
        #expect(try client.readReply() == .simple("PONG"))
        #expect(try client.readReply() == .bulk("2"))
        #expect(try client.readReply() == .bulk("two words"))
    }

    @Test func protocolErrorClosesOnlyThatConnection() throws {
        let server = try TestServer()
        let good = try server.client()
        try good.call("SET", "k", "v")
        for garbage in ["*1\r\n$-7\r\n", "*x\r\n", "*1\r\nGET\r\n", "SET a \"b\r\n", "*1\r\n$999999999999\r\n"] {
            let bad = try server.client()
            try bad.send("PING\r\n" + garbage)
            #expect(try bad.readReply() == .simple("PONG"))  // what came before the error is still served
            guard case .error(let message) = try bad.readReply() else { throw TestError("expected a protocol error") }
            #expect(message.hasPrefix("ERR Protocol error: "))
            #expect(bad.isClosedByServer())
        }
        #expect(try good.call("GET", "k") == .bulk("v"))
    }

    @Test func largeValuesArriveInPiecesAndRoundTrip() throws {
        let server = try TestServer()
        let client = try server.client()
        let value = String(repeating: "0123456789", count: 300_000)  // 3 MB
        #expect(try client.call("SET", "big", value) == .ok)
        #expect(try client.call("STRLEN", "big") == .integer(3_000_000))
        #expect(try client.call("GET", "big") == .bulk(value))
    }

    /// A client that pipelines without reading is paused, not buffered without bound; when it finally reads,
    /// every reply is there and in order.
    @Test func clientThatDoesNotReadIsPausedAndLosesNothing() throws {
        let server = try TestServer()
        let client = try server.client()
        let value = String(repeating: "x", count: 100_000)
        try client.call("SET", "big", value)
        let count = 400  // 40 MB of replies
        var batch: [UInt8] = []
        for _ in 0..<count { batch.appendCommand(["GET", "big"]) }
        try client.send(batch)
        usleep(300_000)
        // Nothing read yet: the server holds at most its pause threshold plus one batch of replies.
        let used = try server.client().usedMemory()
        #expect(used < 30_000_000, "server buffered \(used) bytes for a client that does not read")
        for _ in 0..<count { #expect(try client.readReply() == .bulk(value)) }
    }

    @Test func maxclientsRefusesWithRedisError() throws {
        let server = try TestServer { $0.maxclients = 2 }
        let first = try server.client()
        let second = try server.client()
        #expect(try first.call("PING") == .simple("PONG"))
        #expect(try second.call("PING") == .simple("PONG"))
        let third = try server.client()
        #expect(try third.readReply() == .error("ERR max number of clients reached"))
        #expect(third.isClosedByServer())
    }

    @Test func idleClientsAreClosedAfterTimeout() throws {
        let server = try TestServer { $0.timeout = 1 }
        let idle = try server.client()
        #expect(try idle.call("PING") == .simple("PONG"))
        // The receive timeout (60 s) bounds the wait; the server should close within about a second.
        #expect(idle.isClosedByServer())
    }

    @Test func requirepassGuardsEveryCommand() throws {
        let server = try TestServer { $0.requirepass = "s3cret" }
        let client = try server.client()
        #expect(try client.call("GET", "k") == .error("NOAUTH Authentication required."))
        #expect(
            try client.call("AUTH", "wrong") == .error("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(
            try client.call("AUTH", "other", "s3cret")
                == .error("WRONGPASS invalid username-password pair or user is disabled."))
        #expect(
            try client.call("HELLO", "3")
                == .error(
                    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
                ))
        #expect(try client.call("AUTH", "s3cret") == .ok)
        #expect(try client.call("SET", "k", "v") == .ok)
        let second = try server.client()
        guard case .map = try second.call("HELLO", "3", "AUTH", "default", "s3cret") else {
            throw TestError("HELLO AUTH")
        }
        #expect(try second.call("GET", "k") == .bulk("v"))
        // Before AUTH, a huge request is refused as Redis does, protecting the server from anonymous clients.
        let anonymous = try server.client()
        try anonymous.sendCommand(Array(repeating: "x", count: 20))
        #expect(try anonymous.readReply() == .error("ERR Protocol error: unauthenticated multibulk length"))
    }

    @Test func clientKillClosesTheOtherConnection() throws {
        let server = try TestServer()
        let victim = try server.client()
        guard case .integer(let id) = try victim.call("CLIENT", "ID") else { throw TestError("CLIENT ID") }
        let admin = try server.client()
        guard let list = try admin.call("CLIENT", "LIST").string else { throw TestError("CLIENT LIST") }
        #expect(list.contains("id=\(id) "))
        #expect(list.contains("cmd=client|list"))
        #expect(try admin.call("CLIENT", "KILL", "ID", String(id)) == .integer(1))
        #expect(victim.isClosedByServer())
        #expect(try admin.call("PING") == .simple("PONG"))
    }

    @Test func quitRepliesThenCloses() throws {
        let server = try TestServer()
        let client = try server.client()
        #expect(try client.call("QUIT") == .ok)
        #expect(client.isClosedByServer())
    }

    @Test func portInUseIsAClearError() throws {
        let first = try TestServer()
        var config = ServerConfig()
        config.bind = ["127.0.0.1"]
        config.port = first.port
        config.ioThreads = 1
        config.save = []
        // SO_REUSEPORT lets our own listeners share a port, but not with another process's socket; within one
        // process binding twice succeeds, so check a port held by a plain socket instead.
        let blocker = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(blocker) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(blocker, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        listen(blocker, 1)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(blocker, $0, &length) }
        }
        config.port = Int(UInt16(bigEndian: bound.sin_port))
        let server = Server(state: ServerState(config: config, logger: .init(label: "t")))
        #expect(throws: SystemError.self) { try server.start() }
    }
}
