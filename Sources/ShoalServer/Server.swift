import CShoalPosix
import Logging
import RESP
import ShoalPosix
import ShoalStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How SHUTDOWN asked to stop.
public enum ShutdownRequest: Sendable, Equatable {
    case defaultSave, save, noSave
}

/// Everything the command handlers share, whichever loop they run on.
public final class ServerState: Sendable {
    public let config: ConfigStore
    public let keyspace: Keyspace
    public let commands: CommandTable
    public let logger: Logger
    let clients = ClientRegistry()
    let loopStats: [LoopStats]
    let connectedClients = Atomic<Int>(0)
    let startedAt: Milliseconds
    let startedMonotonic: Int64
    let runID: String
    let hz = Atomic<Int>(10)
    let tcpPort = Atomic<Int>(0)
    public let ioThreads: Int
    let configFile: String?
    /// Called by SHUTDOWN; the executable turns it into a graceful stop of the whole process.
    let shutdownHandler = Locked<(@Sendable (ShutdownRequest) -> Void)?>(nil)
    let wakeLoop = Locked<[@Sendable () -> Void]>([])
    /// Unix seconds of the last successful save (the start time until one happens), for LASTSAVE and INFO.
    let lastSaveTime = Atomic<Int64>(0)
    /// Snapshots: SAVE, BGSAVE, save rules, MISCONF. Set once, right after init.
    private(set) nonisolated(unsafe) var snapshots: Snapshotter!
    /// Heap in use before any data (runtime, buffers): what used_memory counts besides the dataset.
    let memoryBaseline: Int
    /// maxmemory settings read on every command, kept as atomics (CONFIG SET updates them).
    let maxmemory = Atomic<Int>(0)
    let evictionPolicyIndex = Atomic<Int>(0)
    let maxmemorySamples = Atomic<Int>(5)
    /// Recent (monotonic microseconds, commands processed) samples for `instantaneous_ops_per_sec`.
    let opsSamples = Locked<[(Int64, Int)]>([])

    /// - Parameter memoryBaseline: the heap the server needs without data; by default the process's heap in use
    ///   now (right for the executable, which creates the state at start; an embedding passes its own).
    public init(
        config: ServerConfig, logger: Logger, configFile: String? = nil, commands: CommandTable = .standard,
        memoryBaseline: Int? = nil
    ) {
        self.memoryBaseline = memoryBaseline ?? Int(cshoal_malloc_in_use())
        self.config = ConfigStore(config)
        self.logger = logger
        self.commands = commands
        self.configFile = configFile
        keyspace = Keyspace(databases: config.databases, shardsPerDatabase: config.shards)
        ioThreads = config.effectiveIOThreads
        // One stats block per loop, plus one for work done outside any loop (tests, the executable).
        loopStats = (0...ioThreads).map { _ in LoopStats(commandCount: commands.flattened.count) }
        startedAt = currentTimeMilliseconds()
        startedMonotonic = monotonicMicroseconds()
        var generator = SystemRandomNumberGenerator()
        runID = (0..<40).map { _ in String(Int.random(in: 0..<16, using: &generator), radix: 16) }.joined()
        hz.store(config.hz, ordering: .relaxed)
        lastSaveTime.store(startedAt / 1000, ordering: .relaxed)
        snapshots = Snapshotter(state: self)
        configDidChange()
    }

    var evictionPolicy: EvictionPolicy { EvictionPolicy.allCases[evictionPolicyIndex.load(ordering: .relaxed)] }

    /// used_memory: the heap in use at start plus the dataset's estimated bytes.
    var usedMemory: Int { memoryBaseline + keyspace.usedBytes }

    /// Applies what a CONFIG SET changed that is not read afresh where it is used.
    func configDidChange() {
        let config = self.config.current
        hz.store(config.hz, ordering: .relaxed)
        ShoalLogHandler.setLevel(ShoalLogHandler.level(named: config.loglevel))
        let policy = EvictionPolicy(rawValue: config.maxmemoryPolicy) ?? .noEviction
        if policy != evictionPolicy { keyspace.resetEvictionPool() }
        evictionPolicyIndex.store(EvictionPolicy.allCases.firstIndex(of: policy) ?? 0, ordering: .relaxed)
        maxmemory.store(config.maxmemory, ordering: .relaxed)
        maxmemorySamples.store(config.maxmemorySamples, ordering: .relaxed)
        keyspace.accessPolicy.tracking = policy.tracking
        keyspace.accessPolicy.lfu = LFUSettings(logFactor: config.lfuLogFactor, decayMinutes: config.lfuDecayTime)
    }

    /// Over `maxmemory`, evicts by the policy until the dataset fits or `maxKeys` keys are gone (Redis's
    /// `performEvictions`). Commands call it before they run; the cron calls it again with a larger bound, so
    /// memory a command's bounded share left over the limit is reclaimed in the background, as Redis's
    /// `evictionTimeProc` does.
    @discardableResult
    func evictIfOverLimit(now: Milliseconds, maxKeys: Int = 64) -> EvictionOutcome {
        let limit = maxmemory.load(ordering: .relaxed)
        guard limit > 0 && usedMemory > limit else { return .fits }
        return keyspace.evict(
            toFit: max(0, limit - memoryBaseline), policy: evictionPolicy,
            samples: maxmemorySamples.load(ordering: .relaxed), now: now, maxKeys: maxKeys)
    }

    /// Called by the cron thread every tick: keeps about a second of samples for the ops/sec figure.
    func recordOpsSample() {
        let sample = (monotonicMicroseconds(), sumStats { $0.commandsProcessed.load(ordering: .relaxed) })
        opsSamples.withLock { samples in
            samples.append(sample)
            if samples.count > 16 { samples.removeFirst(samples.count - 16) }
        }
    }

    var instantaneousOpsPerSecond: Int {
        opsSamples.withLock { samples in
            guard let first = samples.first, let last = samples.last, last.0 > first.0 else { return 0 }
            return Int(Double(last.1 - first.1) * 1_000_000 / Double(last.0 - first.0))
        }
    }

    /// Redis 7's message for a non-loopback client when protected mode is on and no password is set.
    static let protectedModeError =
        "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set "
        + "for the default user. In this mode connections are only accepted from the loopback interface. If you "
        + "want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just "
        + "disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by "
        + "connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly "
        + "accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
        + "Alternatively you can just disable the protected mode by editing the Redis configuration file, and "
        + "setting the protected mode option to 'no', and then restarting the server. 3) If you started the server "
        + "manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an "
        + "authentication password for the default user. NOTE: You only need to do one of the above things in "
        + "order for the server to start accepting connections from the outside.\r\n"

    /// A session not attached to any socket, for running commands directly (tests, tools).
    public func makeDetachedSession() -> ClientSession {
        let handle = ClientHandle(
            id: clients.makeID(), address: "detached:0", localAddress: "detached:0", fd: -1, loopIndex: ioThreads,
            now: currentTimeMilliseconds())
        return ClientSession(
            handle: handle, authenticated: config.current.requirepass.isEmpty, stats: loopStats[ioThreads])
    }

    /// Runs one command given as arguments on a detached session and returns the reply bytes.
    public func run(_ arguments: [[UInt8]], session: ClientSession) -> [UInt8] {
        var storage: [UInt8] = []
        var spans: [ArgSpan] = []
        for argument in arguments {
            spans.append(ArgSpan(offset: storage.count, count: argument.count))
            storage.append(contentsOf: argument)
        }
        let mark = session.out.count
        storage.withUnsafeBytes { base in
            spans.withUnsafeBufferPointer { spans in
                execute(session, Arguments(base: base.baseAddress, spans: spans), now: currentTimeMilliseconds())
            }
        }
        let reply = Array(session.out.bytes[mark...])
        session.out.truncate(to: mark)
        return reply
    }

    /// Installs what SHUTDOWN does (the executable stops the process; tests may observe it instead).
    public func setShutdownHandler(_ handler: @escaping @Sendable (ShutdownRequest) -> Void) {
        shutdownHandler.withLock { $0 = handler }
    }

    func requestShutdown(_ request: ShutdownRequest) -> Bool {
        guard let handler = shutdownHandler.withLock({ $0 }) else { return false }
        handler(request)
        return true
    }

    func sumStats(_ counter: (LoopStats) -> Int) -> Int { loopStats.reduce(0) { $0 + counter($1) } }
}

/// The running server: its event loops, their threads and the cron thread.
public final class Server: @unchecked Sendable {
    public let state: ServerState
    private var loops: [EventLoop] = []
    private var threads: [pthread_t] = []
    private let cronStopping = Atomic<Bool>(false)
    private var cronThread: pthread_t?

    public init(state: ServerState) {
        self.state = state
    }

    /// The port the server listens on (resolved when `port 0` asked for any free one).
    public var port: Int { state.tcpPort.load(ordering: .relaxed) }

    /// Binds every address for every loop, then starts the loops and the cron thread. Throws (and leaves
    /// nothing running) when an address can't be bound, e.g. because the port is taken.
    public func start() throws(SystemError) {
        signal(SIGPIPE, SIG_IGN)
        // With RLIMIT_FSIZE, a too-large snapshot write must fail with EFBIG, not kill the server.
        signal(SIGXFSZ, SIG_IGN)
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
        } catch {
            for fd in opened { close(fd) }
            loops = []
            throw error
        }
        state.wakeLoop.withLock { wakers in wakers = loops.map { loop in { loop.wake() } } }
        for loop in loops {
            threads.append(startThread(name: "shoal-io-\(loop.index)") { loop.run() })
        }
        let state = self.state
        cronThread = startThread(name: "shoal-cron") { [self] in self.cron(state) }
    }

    /// Stops the loops (they stop accepting, flush and close their clients) and the cron thread, and waits.
    public func stop() {
        for loop in loops { loop.stop() }
        for thread in threads { joinThread(thread) }
        threads = []
        loops = []
        cronStopping.store(true, ordering: .relaxed)
        if let cronThread { joinThread(cronThread) }
        cronThread = nil
    }

    /// Background work every 1/hz seconds: the active expiry cycle, with a budget of a quarter of the period
    /// (Redis's ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC).
    private func cron(_ state: ServerState) {
        while !cronStopping.load(ordering: .relaxed) {
            let hz = max(1, state.hz.load(ordering: .relaxed))
            let periodMicros = Int64(1_000_000 / hz)
            let started = monotonicMicroseconds()
            state.keyspace.activeExpireCycle(now: currentTimeMilliseconds(), budgetMicroseconds: periodMicros / 4)
            state.evictIfOverLimit(now: currentTimeMilliseconds(), maxKeys: 1024)
            state.recordOpsSample()
            state.snapshots.cron()
            state.hz.store(state.config.current.hz, ordering: .relaxed)
            let elapsed = monotonicMicroseconds() - started
            if elapsed < periodMicros { usleep(UInt32(periodMicros - elapsed)) }
        }
    }
}
