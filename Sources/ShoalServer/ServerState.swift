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
    let tcpPort = Atomic<Int>(0)
    public let ioThreads: Int
    let configFile: String?
    /// SHUTDOWN's handler and the loops' wakers.
    let lifecycle = Lifecycle()
    /// Snapshots: SAVE, BGSAVE, save rules, LASTSAVE, MISCONF.
    let snapshots: Snapshotter
    /// Heap in use before any data (runtime, buffers): what used_memory counts besides the dataset.
    let memoryBaseline: Int
    /// Clients blocked on keys (BLPOP...), and the keys that changed since their waiters were last served.
    let blocking = BlockingRegistry()
    /// Who is subscribed to which channels and patterns, for PUBLISH from any loop.
    let pubsub = PubSubRegistry()
    /// CLIENT TRACKING: who caches which keys.
    let tracking = TrackingRegistry()
    /// SLOWLOG's entries.
    let slowlog = SlowLog()
    /// LATENCY LATEST / HISTORY events over `latency-monitor-threshold`.
    let latencyMonitor = LatencyMonitor()
    /// Clients in MONITOR mode.
    let monitors = MonitorRegistry()
    /// CLIENT PAUSE: until when (wall-clock ms; 0: not paused), and whether only writes wait.
    let pausedUntil = Atomic<Int64>(0)
    /// used_memory_peak, sampled by the cron.
    let peakMemory = Atomic<Int>(0)
    let pauseWritesOnly = Atomic<Bool>(false)
    /// The enabled keyspace notification classes (`KeyspaceEvents` raw bits; 0 when nothing would publish).
    let notifyEvents = Atomic<Int>(0)
    /// One per loop (and one for detached sessions, which never block): replies posted by other threads.
    let mailboxes: [Mailbox]
    /// Recent (monotonic microseconds, commands processed) samples for `instantaneous_ops_per_sec`.
    let opsSamples = Locked<[OpsSample]>([])
    /// EVAL's script cache, FUNCTION's libraries, each loop's Lua engine, busy scripts.
    let scripting: Scripting

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
        mailboxes = (0...ioThreads).map { _ in Mailbox() }
        scripting = Scripting(loops: ioThreads)
        startedAt = currentTimeMilliseconds()
        startedMonotonic = monotonicMicroseconds()
        var generator = SystemRandomNumberGenerator()
        runID = (0..<40).map { _ in String(Int.random(in: 0..<16, using: &generator), radix: 16) }.joined()
        snapshots = Snapshotter(
            config: self.config, keyspace: keyspace, logger: logger, loopStats: loopStats, startedAt: startedAt,
            latency: latencyMonitor)
        keyspace.changes.install { [weak self] key, database, change in
            self?.keyChanged(key, database: database, change: change)
        }
        configDidChange()
    }

    /// used_memory: the heap in use at start plus the dataset's estimated bytes.
    var usedMemory: Int { memoryBaseline + keyspace.usedBytes }

    /// Applies the side effects of a CONFIG SET on state that is not configuration (values are read through
    /// `SettingsView`s, which notice the change themselves): the log level, the store's access tracking.
    func configDidChange() {
        let config = self.config.current
        ShoalLogHandler.setLevel(ShoalLogHandler.level(named: config.loglevel))
        let policy = EvictionPolicy(rawValue: config.maxmemoryPolicy) ?? .noEviction
        // Candidates' scores mean something else under another policy; the pool refills within a few calls.
        keyspace.resetEvictionPool()
        keyspace.accessPolicy.tracking = policy.tracking
        keyspace.accessPolicy.lfu = LFUSettings(logFactor: config.lfuLogFactor, decayMinutes: config.lfuDecayTime)
        updateChangeFeed()
    }

    /// Over `maxmemory`, evicts by the policy until the dataset fits or `maxKeys` keys are gone (Redis's
    /// `performEvictions`). Commands call it before they run; the cron calls it again with a larger bound, so
    /// memory a command's bounded share left over the limit is reclaimed in the background, as Redis's
    /// `evictionTimeProc` does.
    @discardableResult
    func evictIfOverLimit(now: Milliseconds, settings: Settings, maxKeys: Int = 64) -> EvictionOutcome {
        let limit = settings.maxmemory
        guard limit > 0 && usedMemory > limit else { return .fits }
        return keyspace.evict(
            toFit: max(0, limit - memoryBaseline), policy: settings.evictionPolicy,
            samples: settings.maxmemorySamples, now: now, maxKeys: maxKeys)
    }

    /// A session not attached to any socket, for running commands directly (tests, tools).
    public func makeDetachedSession() -> ClientSession {
        let handle = ClientHandle(
            id: clients.makeID(), address: "detached:0", localAddress: "detached:0", fd: -1, loopIndex: ioThreads,
            now: currentTimeMilliseconds())
        return ClientSession(
            handle: handle, authenticated: config.current.requirepass.isEmpty, stats: loopStats[ioThreads],
            settings: SettingsView(config))
    }

    /// Runs one command given as arguments on a detached session and returns the reply bytes.
    public func run(_ arguments: [[UInt8]], session: ClientSession) -> [UInt8] {
        session.settings.refresh()
        return Self.replying(session, arguments) { args in execute(session, args, now: currentTimeMilliseconds()) }
    }

    /// Lays `arguments` out as a parsed request, runs `body` on it and returns what it appended to the
    /// session's replies (taking them back out).
    static func replying(_ session: ClientSession, _ arguments: [[UInt8]], _ body: (Arguments) -> Void) -> [UInt8] {
        var storage: [UInt8] = []
        var spans: [ArgSpan] = []
        for argument in arguments {
            spans.append(ArgSpan(offset: storage.count, count: argument.count))
            storage.append(contentsOf: argument)
        }
        let mark = session.out.count
        storage.withUnsafeBytes { base in
            spans.withUnsafeBufferPointer { spans in body(Arguments(base: base.baseAddress, spans: spans)) }
        }
        let reply = Array(session.out.bytes[mark...])
        session.out.truncate(to: mark)
        return reply
    }

    /// Installs what SHUTDOWN does (the executable stops the process; tests may observe it instead).
    public func setShutdownHandler(_ handler: @escaping @Sendable (ShutdownRequest) -> Void) {
        lifecycle.setShutdownHandler(handler)
    }

}
