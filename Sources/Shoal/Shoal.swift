@_exported import enum RESP.RESPValue
import Logging
import RESP
import ShoalPersistence
import ShoalPosix
import ShoalServer
import ShoalStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How an embedded Shoal is set up: every option `shoal-server` has (Redis's names), from code or from a
/// configuration file, and whether it listens on a port at all.
public struct ShoalConfiguration: Sendable {
    /// Every option, with Redis 7's defaults (`conf/shoal.conf` documents each one).
    public var options = ServerConfig()
    /// False: no socket and no event loop; the store is reached from Swift only.
    public var listens = true
    /// The file the options came from, if any (CONFIG REWRITE writes it back).
    public var file: String?

    /// The defaults, but saving off and the port chosen by the system: what an application embedding a cache
    /// usually wants first. Set `options.port`, `options.save` and `options.dir` to change that.
    public init() {
        options.port = 0
        options.save = []
    }

    /// Reads a redis.conf-style file (the same syntax and options as `shoal-server FILE`).
    public init(contentsOfFile path: String) throws(ShoalError) {
        self.init()
        options = ServerConfig()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .configuration("can't open config file '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard let bytes = try? Syscall.readToEnd(fd) else { throw .configuration("can't read config file '\(path)'") }
        do throws(ConfigError) {
            try options.load(text: String(decoding: bytes, as: UTF8.self), source: path)
        } catch {
            throw .configuration(error.message)
        }
        file = path
    }

    /// Sets one option by its directive name, as a configuration file line would (`set("maxmemory", "100mb")`).
    public mutating func set(_ name: String, _ values: String...) throws(ShoalError) {
        do throws(ConfigError) {
            try options.apply(name, values)
        } catch {
            throw .configuration("\(name): \(error.message)")
        }
    }
}

/// What can go wrong, as Swift errors (an embedded server never exits the process).
public enum ShoalError: Error, Equatable, CustomStringConvertible {
    /// A bad option or configuration file.
    case configuration(String)
    /// The snapshot directory is missing or not writable, or the snapshot in it can't be read (Shoal won't start
    /// empty over a snapshot it could not read: the next save would overwrite it).
    case snapshot(String)
    /// An address could not be bound (the port is in use, for instance).
    case listen(String)
    /// A command answered an error (its Redis text, such as `WRONGTYPE Operation against a key...`).
    case command(String)
    /// The instance was stopped.
    case stopped

    public var description: String {
        switch self {
        case .configuration(let message): return "configuration: \(message)"
        case .snapshot(let message): return "snapshot: \(message)"
        case .listen(let message): return "listen: \(message)"
        case .command(let message): return message
        case .stopped: return "the Shoal instance is stopped"
        }
    }
}

/// A Shoal server running inside this process: the same sharded keyspace reachable from Swift (this type's
/// methods, from any thread or task) and, when it listens, from redis-cli and every Redis client on its port.
///
/// Methods that never wait are synchronous; `pop(from:timeout:)` is `async` because it may wait for a push.
/// Every call runs the command exactly as a client's command would run (the same replies, errors, keyspace
/// notifications, invalidations and statistics), and a ``transaction(keys:database:_:)`` holds its keys'
/// shards, in the global lock order, for the whole closure.
public final class ShoalInstance: Sendable {
    public let configuration: ShoalConfiguration
    let state: ServerState
    private let server: Server
    private let client: EmbeddedClient
    private let running = Mutex<Bool>(true)

    /// The options in force now (CONFIG SET changes them while it runs).
    public var currentOptions: ServerConfig { state.config.current }

    /// Threads of this instance still running: 0 after `stop` (the metrics responder's aside).
    public var runningThreads: Int { server.runningThreads }

    /// The TCP port it listens on (nil without a listener).
    public var port: Int? { configuration.listens ? server.port : nil }

    /// Starts Shoal: loads the snapshot in `options.dir` if there is one, binds the port, starts the event loops.
    /// Returns once it accepts connections. Logs through `logger` (the host's swift-log handler).
    public static func start(
        _ configuration: ShoalConfiguration = ShoalConfiguration(), logger: Logger = Logger(label: "shoal")
    ) throws(ShoalError) -> ShoalInstance {
        let options = configuration.options
        var directory = stat()
        if stat(options.dir, &directory) != 0 || (directory.st_mode & S_IFMT) != S_IFDIR {
            throw .snapshot("Can't chdir to '\(options.dir)': \(String(cString: strerror(errno == 0 ? ENOTDIR : errno)))")
        }
        if !options.save.isEmpty && access(options.dir, W_OK) != 0 {
            throw .snapshot("the snapshot directory '\(options.dir)' is not writable: \(String(cString: strerror(errno)))")
        }
        let state = ServerState(config: options, logger: logger, configFile: configuration.file)
        let path = options.dir.hasSuffix("/") ? options.dir + options.dbfilename : options.dir + "/" + options.dbfilename
        var snapshotLoaded = false
        do throws(SnapshotError) {
            let loaded = try SnapshotReader.load(
                path: path, into: state.keyspace, now: currentTimeMilliseconds(), limits: options.encodingLimits
            ) { progress in
                logger.notice("Loading snapshot: \(progress.keys) keys, \(progress.rawBytes) bytes read...")
            }
            if let loaded {
                logger.notice(
                    "DB loaded from disk: \(loaded.keys) keys (\(loaded.expiredSkipped) expired skipped) in \(Double(loaded.microseconds) / 1e6) seconds"
                )
                state.markLoaded()
                if !options.importRDB.isEmpty {
                    logger.warning(
                        "import-rdb \(options.importRDB) skipped: \(path) was loaded (its data is newer; remove it to import again)")
                }
            }
            snapshotLoaded = loaded != nil
        } catch {
            throw .snapshot("\(path): \(error)")
        }
        if !snapshotLoaded && !options.importRDB.isEmpty { try importRDB(options.importRDB, into: state, logger: logger) }
        let server = Server(state: state)
        do throws(SystemError) {
            try server.start(listening: configuration.listens)
        } catch {
            throw .listen("\(options.bind.joined(separator: " ")) port \(options.port): \(error)")
        }
        return ShoalInstance(configuration: configuration, state: state, server: server)
    }

    /// Loads a redis-server RDB file (`import-rdb`): its keys, expiries and function libraries. Then, when
    /// saving is on, writes dump.shoal at once, so the imported data is Shoal's own before the first client
    /// comes and a restart doesn't import again. Anything the file holds that Shoal can't take (a stream, a
    /// module value) stops the start with an error naming the key.
    private static func importRDB(_ file: String, into state: ServerState, logger: Logger) throws(ShoalError) {
        let options = state.config.current
        logger.notice("Importing \(file) (a redis-server RDB file)...")
        let stats: RDBImportStats
        do throws(RDBError) {
            stats = try RDBFile.read(
                path: file, now: currentTimeMilliseconds(), databases: state.keyspace.databaseCount,
                limits: options.encodingLimits,
                progress: { progress, offset in
                    logger.notice("Importing \(file): \(progress.keys) keys, \(offset) of \(progress.bytes) bytes read...")
                }
            ) { database, key, entry throws(RDBError) in
                state.keyspace.load(database: database, key: key, entry: entry, now: currentTimeMilliseconds())
            }
        } catch {
            throw .snapshot("import-rdb \(file): \(error.message)")
        }
        let client = EmbeddedClient(state: state)
        for library in stats.functionLibraries {
            let reply = client.call([Array("FUNCTION".utf8), Array("LOAD".utf8), Array("REPLACE".utf8), library])
            if reply.first == UInt8(ascii: "-") {
                throw .snapshot("import-rdb \(file): a function library failed to load: \(String(decoding: reply.dropFirst().dropLast(2), as: UTF8.self))")
            }
        }
        let perDatabase = stats.keysPerDatabase.sorted { $0.key < $1.key }.map { "db\($0.key)=\($0.value)" }
        logger.notice(
            "Imported \(file) (RDB version \(stats.version)): \(stats.keys) keys [\(perDatabase.joined(separator: " "))], \(stats.expiredSkipped) expired skipped, \(stats.functionLibraries.count) function libraries, in \(Double(stats.microseconds) / 1e6) seconds"
        )
        if options.save.isEmpty {
            logger.warning("import-rdb: saving is off (save \"\"), so the imported keys live only in memory")
        } else if !state.saveBeforeShutdown() {
            throw .snapshot("import-rdb \(file): the imported keys could not be saved to \(options.dbfilename)")
        }
    }

    private init(configuration: ShoalConfiguration, state: ServerState, server: Server) {
        self.configuration = configuration
        self.state = state
        self.server = server
        client = EmbeddedClient(state: state)
    }

    /// Stops accepting clients, answers what was asked, closes every connection and stops every thread. With
    /// `save`, writes a snapshot first (and throws, still running, when that fails).
    public func stop(save: Bool = false) throws(ShoalError) {
        // Claimed in one step, so two callers can't both stop (and join) the same threads.
        guard running.withLock({ running in defer { running = false }; return running }) else { return }
        if save && !state.saveBeforeShutdown() {
            running.withLock { $0 = true }
            throw .snapshot("saving before stopping failed")
        }
        server.stop()
    }

    /// What SHUTDOWN from a client asks of the host (which decides whether to stop this instance or the process).
    public func onShutdownRequest(_ handler: @escaping @Sendable (_ save: Bool?) -> Void) {
        state.setShutdownHandler { request in
            switch request {
            case .defaultSave: handler(nil)
            case .save: handler(true)
            case .noSave: handler(false)
            }
        }
    }

    deinit { server.stop() }

    // MARK: - Any command

    /// Runs any command, as a client would send it, and returns its reply; an error reply throws.
    @discardableResult
    public func execute(_ arguments: [String], database: Int = 0) throws(ShoalError) -> RESPValue {
        try execute(arguments.map { Array($0.utf8) }, database: database)
    }

    @discardableResult
    public func execute(_ arguments: [[UInt8]], database: Int = 0) throws(ShoalError) -> RESPValue {
        guard running.withLock({ $0 }) else { throw .stopped }
        return try Self.decode(client.call(arguments, database: database))
    }

    static func decode(_ reply: [UInt8]) throws(ShoalError) -> RESPValue {
        guard let (value, _) = try? reply.withUnsafeBytes({ try parseReply($0) }) else {
            throw .command("ERR no reply")
        }
        if case .error(let text) = value { throw .command(text) }
        return value
    }

    // MARK: - Strings and keys

    /// GET: the value's bytes, or nil.
    public func get(_ key: String, database: Int = 0) throws(ShoalError) -> [UInt8]? {
        switch try execute(["GET", key], database: database) {
        case .bulk(let bytes): return bytes
        default: return nil
        }
    }

    /// GET, decoded as UTF-8.
    public func getString(_ key: String, database: Int = 0) throws(ShoalError) -> String? {
        try get(key, database: database).map { String(decoding: $0, as: UTF8.self) }
    }

    /// SET, with an optional time to live (PX).
    public func set(_ key: String, _ value: some Collection<UInt8>, expiresIn ttl: Duration? = nil, database: Int = 0)
        throws(ShoalError)
    {
        var arguments: [[UInt8]] = [Array("SET".utf8), Array(key.utf8), Array(value)]
        if let ttl { arguments += [Array("PX".utf8), Array(String(Self.milliseconds(ttl)).utf8)] }
        try execute(arguments, database: database)
    }

    public func set(_ key: String, _ value: String, expiresIn ttl: Duration? = nil, database: Int = 0)
        throws(ShoalError)
    {
        try set(key, Array(value.utf8), expiresIn: ttl, database: database)
    }

    /// INCRBY: the new value.
    @discardableResult
    public func increment(_ key: String, by amount: Int64 = 1, database: Int = 0) throws(ShoalError) -> Int64 {
        guard case .integer(let value) = try execute(["INCRBY", key, String(amount)], database: database) else {
            throw .command("ERR unexpected reply")
        }
        return value
    }

    /// DEL: how many of the keys existed.
    @discardableResult
    public func delete(_ keys: String..., database: Int = 0) throws(ShoalError) -> Int {
        guard case .integer(let count) = try execute(["DEL"] + keys, database: database) else { return 0 }
        return Int(count)
    }

    /// PEXPIRE: whether the key exists (and now expires).
    @discardableResult
    public func expire(_ key: String, in ttl: Duration, database: Int = 0) throws(ShoalError) -> Bool {
        try execute(["PEXPIRE", key, String(Self.milliseconds(ttl))], database: database) == .integer(1)
    }

    /// PTTL: the time left, nil for a missing key or one without a deadline.
    public func timeToLive(_ key: String, database: Int = 0) throws(ShoalError) -> Duration? {
        guard case .integer(let milliseconds) = try execute(["PTTL", key], database: database), milliseconds >= 0 else {
            return nil
        }
        return .milliseconds(milliseconds)
    }

    // MARK: - Lists

    /// RPUSH: the list's length after it.
    @discardableResult
    public func push(_ key: String, _ values: [String], database: Int = 0) throws(ShoalError) -> Int {
        guard case .integer(let length) = try execute(["RPUSH", key] + values, database: database) else { return 0 }
        return Int(length)
    }

    /// BLPOP from Swift: the first element of the first non-empty list, waiting up to `timeout` for a push
    /// (nil when none came). Waits without holding a thread: it polls with a short, growing sleep (up to 5 ms).
    public func pop(from keys: [String], timeout: Duration, database: Int = 0) async throws -> (key: String, value: [UInt8])? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var pause = Duration.microseconds(100)
        while true {
            if case .array(let pair) = try execute(["BLPOP"] + keys + ["0"], database: database), pair.count == 2,
                case .bulk(let key) = pair[0], case .bulk(let value) = pair[1]
            {
                return (String(decoding: key, as: UTF8.self), value)
            }
            if clock.now >= deadline { return nil }
            try await Task.sleep(for: min(pause, deadline - clock.now))
            pause = min(pause * 2, .milliseconds(5))
        }
    }

    // MARK: - Transactions

    /// Runs `body` with the shards of `keys` held exclusively (in the global order, so it can't deadlock with
    /// anyone): the commands it runs through the ``ShoalTransaction`` are atomic together, and no client on any
    /// loop sees them half done. A command on a key not in `keys` throws.
    public func transaction<R>(
        keys: [String], database: Int = 0, _ body: (ShoalTransaction) throws -> R
    ) throws -> R {
        guard running.withLock({ $0 }) else { throw ShoalError.stopped }
        return try client.transaction(database: database, keys: keys.map { Array($0.utf8) }) { transaction in
            try body(ShoalTransaction(transaction: transaction))
        }
    }

    // MARK: - Observing

    /// The figures INFO reports, as values.
    public var statistics: ShoalStatistics {
        let info = (try? execute(["INFO", "everything"]))?.string ?? ""
        var fields: [String: String] = [:]
        for line in info.split(separator: "\r\n") where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return ShoalStatistics(fields: fields)
    }

    /// The Prometheus exposition `/metrics` serves (redis_exporter's names and `shoal_*` histograms).
    public func metrics() -> String { state.prometheusMetrics() }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}

/// The commands of one ``ShoalInstance/transaction(keys:database:_:)`` closure.
public struct ShoalTransaction {
    let transaction: EmbeddedTransaction

    /// Runs a command on the transaction's keys; an error reply throws.
    @discardableResult
    public func execute(_ arguments: [String]) throws(ShoalError) -> RESPValue {
        try ShoalInstance.decode(transaction.call(arguments.map { Array($0.utf8) }))
    }

    public func get(_ key: String) throws(ShoalError) -> [UInt8]? {
        if case .bulk(let bytes) = try execute(["GET", key]) { return bytes }
        return nil
    }

    public func set(_ key: String, _ value: String) throws(ShoalError) { try execute(["SET", key, value]) }

    @discardableResult
    public func increment(_ key: String, by amount: Int64 = 1) throws(ShoalError) -> Int64 {
        guard case .integer(let value) = try execute(["INCRBY", key, String(amount)]) else {
            throw .command("ERR unexpected reply")
        }
        return value
    }
}

/// INFO's figures (every section), with the common ones as properties.
public struct ShoalStatistics: Sendable {
    /// Every INFO field by name (`used_memory`, `cmdstat_get`, `latency_percentiles_usec_get`...).
    public let fields: [String: String]

    func integer(_ name: String) -> Int { fields[name].flatMap { Int($0) } ?? 0 }

    public var connectedClients: Int { integer("connected_clients") }
    public var commandsProcessed: Int { integer("total_commands_processed") }
    public var keyspaceHits: Int { integer("keyspace_hits") }
    public var keyspaceMisses: Int { integer("keyspace_misses") }
    public var usedMemory: Int { integer("used_memory") }
    public var evictedKeys: Int { integer("evicted_keys") }
    public var expiredKeys: Int { integer("expired_keys") }
    /// Keys in each database that has any (`db0` -> count).
    public var keys: [Int: Int] {
        var keys: [Int: Int] = [:]
        for (name, value) in fields where name.hasPrefix("db") {
            guard let database = Int(name.dropFirst(2)), let count = value.split(separator: ",").first?
                .split(separator: "=").last.flatMap({ Int($0) })
            else { continue }
            keys[database] = count
        }
        return keys
    }
}
