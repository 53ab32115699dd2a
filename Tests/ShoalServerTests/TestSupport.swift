import Foundation
import Logging
import RESP
import ShoalServer
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A server started in this process on an ephemeral loopback port, stopped when the test is done.
final class TestServer: @unchecked Sendable {
    let server: Server
    var port: Int { server.port }
    var state: ServerState { server.state }

    init(_ configure: (inout ServerConfig) -> Void = { _ in }) throws {
        var config = ServerConfig()
        config.bind = ["127.0.0.1"]
        config.port = 0
        config.ioThreads = 2
        config.shards = 16
        config.save = []
        configure(&config)
        var logger = Logger(label: "shoal-test")
        logger.logLevel = .critical
        // Many servers share this test process's heap: count only each server's own dataset.
        server = Server(state: ServerState(config: config, logger: logger, memoryBaseline: 0))
        try server.start()
    }

    func client() throws -> TestClient { try TestClient(port: port) }

    deinit { server.stop() }
}

/// A blocking RESP client with a receive timeout, so a test fails instead of hanging.
final class TestClient: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, host: String = "127.0.0.1") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw TestError("connect failed: \(errno)")
        }
        // A guard against a hung test, not a speed check: generous, so a starved machine only runs slower.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            guard written > 0 else { throw TestError("write failed: \(errno)") }
            offset += written
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func sendCommand(_ arguments: [String]) throws {
        var bytes: [UInt8] = []
        bytes.appendCommand(arguments)
        try send(bytes)
    }

    /// Reads one reply; throws when the server closed the connection or nothing came within the timeout.
    func readReply() throws -> RESPValue {
        while true {
            if let (value, used) = try buffer.withUnsafeBytes({ try parseReply($0) }) {
                buffer.removeFirst(used)
                return value
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else { throw TestError(count == 0 ? "connection closed" : "read failed: \(errno)") }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    /// True when the server has closed the connection (reads EOF).
    func isClosedByServer() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    @discardableResult
    func call(_ arguments: String...) throws -> RESPValue { try call(arguments) }

    /// `used_memory` from INFO memory.
    func usedMemory() throws -> Int {
        guard let info = try call("INFO", "memory").string,
            let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("used_memory:") }),
            let used = Int(line.dropFirst("used_memory:".count))
        else { throw TestError("INFO memory") }
        return used
    }

    @discardableResult
    func call(_ arguments: [String]) throws -> RESPValue {
        try sendCommand(arguments)
        return try readReply()
    }
}

/// Waits until `condition` holds, checking every 20 ms, for at most `seconds` (a bound against hanging, not a
/// speed requirement: a slow machine only waits longer). Returns whether it held.
@discardableResult
func waitUntil(seconds: Double = 60, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension RESPValue {
    static func bulk(_ text: String) -> RESPValue { .bulk(Array(text.utf8)) }
    static let ok = RESPValue.simple("OK")
}

/// Runs `count` bodies on their own threads at once (not a pool): 50 clients really are 50 connections
/// talking concurrently. Rethrows the first failure.
func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let group = DispatchGroup()
    let failures = Failures()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            do { try body(index) } catch { failures.add("\(error)") }
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
    if let first = failures.first { throw TestError(first) }
}

final class Failures: @unchecked Sendable {
    private var messages: [String] = []
    private let lock = NSLock()
    func add(_ message: String) {
        lock.lock()
        messages.append(message)
        lock.unlock()
    }
    var first: String? {
        lock.lock()
        defer { lock.unlock() }
        return messages.first
    }
}

/// A value behind an NSLock (a pthread mutex, which ThreadSanitizer understands).
final class LockedBox<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
