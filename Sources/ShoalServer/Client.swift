import RESP
import ShoalPosix
import ShoalStore
import Synchronization

/// What other threads may know about a client (CLIENT LIST, CLIENT KILL, INFO clients). The owning loop
/// updates the atomics with plain relaxed stores as it serves the client; the names change rarely and sit
/// behind a mutex.
public final class ClientHandle: Sendable {
    public let id: Int
    let address: String
    let localAddress: String
    let fd: Int32
    let createdAt: Milliseconds
    let loopIndex: Int
    let database = Atomic<Int>(0)
    let lastInteraction: Atomic<Int64>
    let lastCommand = Atomic<Int>(-1)
    let protocolVersion = Atomic<Int>(2)
    let killRequested = Atomic<Bool>(false)
    /// Parked by a blocking command (CLIENT LIST's `b` flag).
    let isBlocked = Atomic<Bool>(false)
    /// Commands queued in an open MULTI, or -1 outside one (CLIENT LIST's `multi` and `x` flag).
    let queuedCommands = Atomic<Int>(-1)
    let names = Locked<(name: String, libName: String, libVersion: String)>(("", "", ""))
    /// Channels, patterns and shard channels subscribed to (CLIENT LIST's sub, psub, ssub).
    let channelCount = Atomic<Int>(0)
    let patternCount = Atomic<Int>(0)
    let shardChannelCount = Atomic<Int>(0)
    /// CLIENT TRACKING: -1 off, 0 on without redirection, else the client id invalidations go to (CLIENT
    /// LIST's redir, and the `t` flag).
    let trackingRedirect = Atomic<Int>(-1)
    /// The connection's buffers as its loop last saw them (CLIENT LIST's qbuf, qbuf-free, obl, omem, tot-mem;
    /// INFO's client_recent_max_*_buffer).
    let queryBuffer = Atomic<Int>(0)
    let queryBufferFree = Atomic<Int>(0)
    let outputPending = Atomic<Int>(0)
    let outputCapacity = Atomic<Int>(0)
    /// In MONITOR mode (CLIENT LIST's `O` flag).
    let isMonitor = Atomic<Bool>(false)
    /// CLIENT LIST's tracking letters: `R` (the redirect target is gone) and `B` (BCAST).
    let trackingLetters = Locked<String>("")

    init(id: Int, address: String, localAddress: String, fd: Int32, loopIndex: Int, now: Milliseconds) {
        self.id = id
        self.address = address
        self.localAddress = localAddress
        self.fd = fd
        self.loopIndex = loopIndex
        createdAt = now
        lastInteraction = Atomic(now)
    }

    var name: String { names.withLock { $0.name } }
}

/// A client's session state, owned by the event loop that serves it (never touched by another thread).
public final class ClientSession {
    public let handle: ClientHandle
    // database, authenticated and closeAfterReply are read for every command, only ever by the owning loop's
    // thread: no dynamic exclusivity checks (callgrind: one check is about 180 instructions, 4% of a GET).
    @exclusivity(unchecked) public var database = 0 {
        didSet { handle.database.store(database, ordering: .relaxed) }
    }
    @exclusivity(unchecked) public var authenticated: Bool
    // Every reply byte passes through here, only ever on the owning loop's thread: no dynamic exclusivity checks
    // (callgrind: they were 8% of a PUBLISH fan-out).
    @exclusivity(unchecked) public var out: ReplyBuffer
    /// Set by QUIT, protocol errors and CLIENT KILL of oneself: close once the replies are written.
    @exclusivity(unchecked) public var closeAfterReply = false
    let stats: LoopStats
    /// The settings of the thread serving this session (its loop's view, shared by the loop's sessions).
    let settings: SettingsView
    // These three are read for every command, only ever by the owning loop's thread: no dynamic exclusivity
    // checks (measured with callgrind).
    /// The open MULTI, if any.
    @exclusivity(unchecked) var transaction: TransactionState? {
        didSet { handle.queuedCommands.store(transaction?.queue.count ?? -1, ordering: .relaxed) }
    }
    /// Set while parked by BLPOP and friends: the loop reads no further command until it is answered.
    @exclusivity(unchecked) var blocked: BlockedClient? {
        didSet { handle.isBlocked.store(blocked != nil, ordering: .relaxed) }
    }
    /// What this client is subscribed to; nil when nothing (Redis's CLIENT_PUBSUB flag is `!= nil`).
    @exclusivity(unchecked) var subscriptions: Subscriptions? {
        didSet {
            handle.channelCount.store(subscriptions?.channels.count ?? 0, ordering: .relaxed)
            handle.patternCount.store(subscriptions?.patterns.count ?? 0, ordering: .relaxed)
            handle.shardChannelCount.store(subscriptions?.shardChannels.count ?? 0, ordering: .relaxed)
        }
    }
    /// CLIENT TRACKING, when on.
    @exclusivity(unchecked) var tracking: ClientTracking? {
        didSet {
            handle.trackingRedirect.store(tracking.map { $0.options.redirect } ?? -1, ordering: .relaxed)
            let letters = (tracking?.brokenRedirect == true ? "R" : "") + (tracking?.options.bcast == true ? "B" : "")
            handle.trackingLetters.withLock { $0 = letters }
        }
    }
    /// CLIENT REPLY: whether this client's replies are sent.
    @exclusivity(unchecked) var replyMode = ReplyMode.on
    /// Keys under WATCH, until EXEC, DISCARD, UNWATCH, RESET or disconnection.
    @exclusivity(unchecked) var watched: [WatchedKey] = []
    /// Work a command asked to run once no shard is held (after the command, or after the EXEC it is in).
    @exclusivity(unchecked) private var deferred: [() -> Void] = []

    init(handle: ClientHandle, authenticated: Bool, stats: LoopStats, settings: SettingsView) {
        self.settings = settings
        self.handle = handle
        self.authenticated = authenticated
        self.stats = stats
        out = ReplyBuffer()
    }

    public var id: Int { handle.id }

    /// Runs `work` once no shard lock is held: right after this command, or after its whole EXEC.
    func afterLocksReleased(_ work: @escaping () -> Void) { deferred.append(work) }

    @inline(__always)
    func runDeferredWork() {
        guard !deferred.isEmpty else { return }
        runDeferredWorkSlowly()
    }

    private func runDeferredWorkSlowly() {
        while !deferred.isEmpty {
            let work = deferred
            deferred = []
            for item in work { item() }
        }
    }

    public var protocolVersion: Int {
        get { out.protocolVersion }
        set {
            out.protocolVersion = newValue
            handle.protocolVersion.store(newValue, ordering: .relaxed)
        }
    }
}

/// Every connected client, by id. Touched on connect, disconnect, CLIENT LIST and CLIENT KILL only.
final class ClientRegistry: Sendable {
    private let clients = Locked<[Int: ClientHandle]>([:])
    private let nextID = Atomic<Int>(1)

    func makeID() -> Int { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    func add(_ handle: ClientHandle) { clients.withLock { $0[handle.id] = handle } }

    func remove(_ id: Int) { clients.withLock { _ = $0.removeValue(forKey: id) } }

    var count: Int { clients.withLock { $0.count } }

    func handle(_ id: Int) -> ClientHandle? { clients.withLock { $0[id] } }

    /// All clients, ordered by id as CLIENT LIST shows them.
    var all: [ClientHandle] { clients.withLock { Array($0.values) }.sorted { $0.id < $1.id } }
}

/// CLIENT REPLY ON | OFF | SKIP (SKIP: the reply of the command after it is dropped).
enum ReplyMode {
    case on, off, skip
}
