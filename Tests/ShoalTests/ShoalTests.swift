import Foundation
import Logging
import Shoal
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The embeddable library from Swift: start and stop, the data API, transactions under contention, and no
/// thread or file descriptor left behind.
@Suite struct ShoalTests {
    /// A configuration of its own for each instance: a fresh directory, so no test reads the working directory's
    /// snapshot (or anyone else's).
    static func fresh() -> ShoalConfiguration {
        var configuration = ShoalConfiguration()
        var template = Array("/tmp/shoal-tests-XXXXXX".utf8CString)
        configuration.options.dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        return configuration
    }

    static var quiet: Logger {
        var logger = Logger(label: "shoal-tests")
        logger.logLevel = .critical
        return logger
    }

    /// Whether the port is free again (bound exclusively, without SO_REUSEPORT).
    func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Started and stopped many times in one process: every thread it started has ended and its port is free
    /// each time. (The example's self-test, run by Tests/clients/test_embedded.py, also counts the whole
    /// process's threads and descriptors, where no other test runs beside it.)
    @Test func startStopManyTimesLeavesNothingRunning() throws {
        for round in 0..<20 {
            var configuration = Self.fresh()
            configuration.listens = round % 2 == 0
            let shoal = try ShoalInstance.start(configuration, logger: Self.quiet)
            #expect(shoal.runningThreads > 0)
            try shoal.set("round", String(round))
            #expect(try shoal.getString("round") == String(round))
            let port = shoal.port
            if configuration.listens { #expect((port ?? 0) > 0) } else { #expect(port == nil) }
            try shoal.stop()
            #expect(shoal.runningThreads == 0)
            if let port { #expect(portIsFree(port)) }
            #expect(throws: ShoalError.stopped) { try shoal.get("round") }
        }
    }

    @Test func dataAPI() async throws {
        let shoal = try ShoalInstance.start(Self.fresh(), logger: Self.quiet)
        defer { try? shoal.stop() }
        try shoal.set("greeting", "hello")
        #expect(try shoal.getString("greeting") == "hello")
        #expect(try shoal.get("missing") == nil)
        #expect(try shoal.increment("counter") == 1)
        #expect(try shoal.increment("counter", by: 41) == 42)
        try shoal.set("short", "x", expiresIn: .seconds(100))
        let ttl = try #require(try shoal.timeToLive("short"))
        #expect(ttl > .seconds(99) && ttl <= .seconds(100))
        #expect(try shoal.expire("greeting", in: .seconds(10)))
        #expect(try shoal.delete("greeting", "counter", "nothing") == 2)
        #expect(throws: ShoalError.command("WRONGTYPE Operation against a key holding the wrong kind of value")) {
            try shoal.push("short", ["a"])
        }
        #expect(try shoal.execute(["HSET", "h", "f", "v"]) == .integer(1))
        #expect(try shoal.execute(["HGET", "h", "f"]) == .bulk(Array("v".utf8)))
        #expect(try shoal.statistics.keys[0] == 2)
        #expect(shoal.metrics().contains("redis_db_keys{db=\"db0\"} 2"))
        // A blocking pop waits for a push from another task.
        async let popped = shoal.pop(from: ["jobs"], timeout: .seconds(10))
        try await Task.sleep(for: .milliseconds(50))
        try shoal.push("jobs", ["job-1"])
        let result = try await popped
        #expect(result?.key == "jobs" && result?.value == Array("job-1".utf8))
        #expect(try await shoal.pop(from: ["empty"], timeout: .milliseconds(20)) == nil)
    }

    /// A call that leaves connection state behind (MULTI, SUBSCRIBE, CLIENT REPLY OFF, HELLO 3) doesn't change
    /// the next call, which may get the same pooled session.
    @Test func callsDontInheritConnectionState() throws {
        let shoal = try ShoalInstance.start(Self.fresh(), logger: Self.quiet)
        defer { try? shoal.stop() }
        for command in [["MULTI"], ["SUBSCRIBE", "c"], ["CLIENT", "REPLY", "OFF"], ["HELLO", "3"], ["WATCH", "k"],
                        ["CLIENT", "TRACKING", "ON"]] {
            _ = try? shoal.execute(command)
            try shoal.set("k", "v")
            #expect(try shoal.getString("k") == "v", "after \(command)")
        }
    }

    @Test func errorsAreSwiftErrors() throws {
        var configuration = Self.fresh()
        #expect(throws: ShoalError.self) { try configuration.set("maxmemory-policy", "sometimes") }
        configuration.options.dir = "/nonexistent/shoal"
        #expect(throws: ShoalError.self) { try ShoalInstance.start(configuration, logger: Self.quiet) }
        let first = try ShoalInstance.start(Self.fresh(), logger: Self.quiet)
        defer { try? first.stop() }
        var taken = Self.fresh()
        taken.options.port = first.port!
        #expect {
            try ShoalInstance.start(taken, logger: Self.quiet)
        } throws: { error in
            guard case .listen = error as? ShoalError else { return false }
            return true
        }
        // A corrupt snapshot is refused, not silently replaced.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shoal-corrupt-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("not a snapshot".utf8).write(to: directory.appendingPathComponent("dump.shoal"))
        var corrupt = Self.fresh()
        corrupt.options.dir = directory.path
        #expect {
            try ShoalInstance.start(corrupt, logger: Self.quiet)
        } throws: { error in
            guard case .snapshot = error as? ShoalError else { return false }
            return true
        }
    }

    /// Tasks move money between two accounts through transactions while others read both: the total never
    /// changes, as seen by any reader, and no update is lost.
    @Test func transactionClosureIsAtomicUnderContention() async throws {
        let shoal = try ShoalInstance.start(Self.fresh(), logger: Self.quiet)
        defer { try? shoal.stop() }
        try shoal.set("alice", "1000")
        try shoal.set("bob", "1000")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for step in 0..<500 {
                        let amount = Int64((worker + step) % 7 + 1)
                        try shoal.transaction(keys: ["alice", "bob"]) { tx in
                            try tx.increment("alice", by: -amount)
                            try tx.increment("bob", by: amount)
                        }
                    }
                }
            }
            for _ in 0..<2 {
                group.addTask {
                    for _ in 0..<500 {
                        let (alice, bob) = try shoal.transaction(keys: ["alice", "bob"]) { tx in
                            (try tx.get("alice"), try tx.get("bob"))
                        }
                        let total = Int(String(decoding: alice ?? [], as: UTF8.self))! + Int(String(decoding: bob ?? [], as: UTF8.self))!
                        #expect(total == 2000)
                    }
                }
            }
            try await group.waitForAll()
        }
        let alice = Int(try #require(try shoal.getString("alice")))!
        let bob = Int(try #require(try shoal.getString("bob")))!
        #expect(alice + bob == 2000)
        // Keys outside the transaction are refused, not run half-atomically.
        #expect(throws: ShoalError.self) {
            try shoal.transaction(keys: ["alice"]) { tx in try tx.set("carol", "1") }
        }
    }

    @Test func concurrentUseFromManyTasks() async throws {
        let shoal = try ShoalInstance.start(Self.fresh(), logger: Self.quiet)
        defer { try? shoal.stop() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<1000 { try shoal.increment("hits") } }
            }
            try await group.waitForAll()
        }
        #expect(try shoal.getString("hits") == "8000")
    }
}
