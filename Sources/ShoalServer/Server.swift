import CShoalPosix
import Logging
import RESP
import ShoalPosix
import ShoalStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The running server: its event loops, their threads and the cron thread.
public final class Server: @unchecked Sendable {
    public let state: ServerState
    private var loops: [EventLoop] = []
    private var threads: [pthread_t] = []
    private let cronStopping = Atomic<Bool>(false)
    private var cronThread: pthread_t?
    private var metrics: MetricsServer?

    public init(state: ServerState) {
        self.state = state
    }

    /// The port the server listens on (resolved when `port 0` asked for any free one).
    public var port: Int { state.tcpPort.load(ordering: .relaxed) }

    /// Binds every address for every loop, then starts the loops and the cron thread. Throws (and leaves
    /// nothing running) when an address can't be bound, e.g. because the port is taken. With `listening`
    /// false (an embedded store reached only from Swift), no socket and no loop: only the cron thread.
    public func start(listening: Bool = true) throws(SystemError) {
        signal(SIGPIPE, SIG_IGN)
        // With RLIMIT_FSIZE, a too-large snapshot write must fail with EFBIG, not kill the server.
        signal(SIGXFSZ, SIG_IGN)
        guard listening else {
            let state = self.state
            cronThread = counted("shoal-cron") { [self] in self.cron(state) }
            return
        }
        let config = state.config.current
        var port = config.port
        var perLoop: [[Int32]] = Array(repeating: [], count: state.ioThreads)
        var opened: [Int32] = []
        do throws(SystemError) {
            for var host in config.bind {
                let optional = host.hasPrefix("-")
                if optional { host.removeFirst() }
                var fds: [Int32] = []
                do throws(SystemError) {
                    // Claim the address exclusively first: fails if any other process listens there.
                    let probe = try Sockets.listen(host: host, port: port, backlog: 1, reusePort: false)
                    if port == 0 { port = Sockets.localPort(probe) }
                    close(probe)
                    for _ in 0..<state.ioThreads {
                        let fd = try Sockets.listen(host: host, port: port, backlog: Int32(config.tcpBacklog))
                        fds.append(fd)
                        opened.append(fd)
                        if port == 0 { port = Sockets.localPort(fd) }
                    }
                } catch {
                    for fd in fds {
                        close(fd)
                        opened.removeAll { $0 == fd }
                    }
                    if optional
                        && (error.errno == EADDRNOTAVAIL || error.errno == EAFNOSUPPORT || error.errno == EINVAL)
                    {
                        state.logger.info("Skipping optional bind address \(host): \(error)")
                        continue
                    }
                    throw error
                }
                for (index, fd) in fds.enumerated() { perLoop[index].append(fd) }
            }
            guard !opened.isEmpty else { throw SystemError("bind: no address could be bound", errno: EADDRNOTAVAIL) }
            state.tcpPort.store(port, ordering: .relaxed)
            for index in 0..<state.ioThreads {
                loops.append(try EventLoop(index: index, server: state, listeners: perLoop[index]))
            }
            if config.metricsPort > 0 {
                let metrics = MetricsServer(state: state)
                try metrics.start(port: config.metricsPort, bind: config.bind)
                self.metrics = metrics
            }
        } catch {
            for fd in opened { close(fd) }
            loops = []
            throw error
        }
        state.lifecycle.installWakers(loops.map { loop in { loop.wake() } })
        for loop in loops {
            threads.append(counted("shoal-io-\(loop.index)") { loop.run() })
        }
        let state = self.state
        cronThread = counted("shoal-cron") { [self] in self.cron(state) }
    }

    /// Threads of this server still running (0 once `stop` returned): what an embedding checks for leaks.
    public var runningThreads: Int { liveThreads.load(ordering: .relaxed) }
    private let liveThreads = Atomic<Int>(0)

    private func counted(_ name: String, _ body: @escaping @Sendable () -> Void) -> pthread_t {
        liveThreads.add(1, ordering: .relaxed)
        return startThread(name: name) { [self] in
            body()
            liveThreads.subtract(1, ordering: .relaxed)
        }
    }

    /// Stops the loops (they stop accepting, flush and close their clients) and the cron thread, and waits.
    public func stop() {
        metrics?.stop()
        metrics = nil
        for loop in loops { loop.stop() }
        for thread in threads { joinThread(thread) }
        threads = []
        // The wakers hold the loops (and each loop the state): dropping them frees the loops, which close their
        // epoll and eventfd descriptors.
        state.lifecycle.installWakers([])
        loops = []
        cronStopping.store(true, ordering: .relaxed)
        if let cronThread { joinThread(cronThread) }
        cronThread = nil
    }

    /// Background work every 1/hz seconds: the active expiry cycle, with a budget of a quarter of the period
    /// (Redis's ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC).
    private func cron(_ state: ServerState) {
        let settings = SettingsView(state.config)
        while !cronStopping.load(ordering: .relaxed) {
            settings.refresh()
            let hz = settings.current.hz
            let periodMicros = Int64(1_000_000 / hz)
            let started = monotonicMicroseconds()
            // As Redis, keys don't expire while CLIENT PAUSE holds writes back.
            if state.pausedUntil.load(ordering: .relaxed) <= currentTimeMilliseconds() {
                state.keyspace.activeExpireCycle(now: currentTimeMilliseconds(), budgetMicroseconds: periodMicros / 4)
                state.noteLatency("expire-cycle", milliseconds: Int(monotonicMicroseconds() - started) / 1000)
            }
            let evictionStarted = monotonicMicroseconds()
            if state.evictIfOverLimit(now: currentTimeMilliseconds(), settings: settings.current, maxKeys: 1024) != .fits {
                state.noteLatency("eviction-cycle", milliseconds: Int(monotonicMicroseconds() - evictionStarted) / 1000)
            }
            state.recordOpsSample()
            state.snapshots.cron()
            let elapsed = monotonicMicroseconds() - started
            if elapsed < periodMicros { usleep(UInt32(periodMicros - elapsed)) }
        }
    }
}
