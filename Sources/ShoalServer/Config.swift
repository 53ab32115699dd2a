import RESP
import ShoalPosix
import ShoalStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Every setting, with Redis's names where Redis has the option. Defaults match Redis 7 (and
/// `conf/shoal.conf`, which documents each one).
public struct ServerConfig: Sendable, Equatable {
    public var bind = ["127.0.0.1", "-::1"]
    public var port = 6379
    public var protectedMode = true
    public var requirepass = ""
    public var maxclients = 10000
    public var timeout = 0
    public var tcpKeepalive = 300
    public var tcpBacklog = 511
    public var maxmemory = 0
    public var maxmemoryPolicy = "noeviction"
    public var maxmemorySamples = 5
    public var lfuLogFactor = 10
    public var lfuDecayTime = 1
    public var save: [SaveRule] = [
        SaveRule(seconds: 3600, changes: 1), SaveRule(seconds: 300, changes: 100),
        SaveRule(seconds: 60, changes: 10000),
    ]
    public var dir = "."
    public var dbfilename = "dump.shoal"
    /// A redis-server RDB file to import at start, when there is no Shoal snapshot to load ("": none).
    public var importRDB = ""
    /// As Redis: after a failed save, refuse writes (MISCONF) until a save succeeds.
    public var stopWritesOnBgsaveError = true
    public var loglevel = "notice"
    public var logfile = ""
    public var databases = 16
    /// 0 means one event loop per core.
    public var ioThreads = 0
    /// Shards per database; a power of two.
    public var shards = 64
    public var hz = 10
    public var clientQueryBufferLimit = 1024 * 1024 * 1024
    public var protoMaxBulkLen = 512 * 1024 * 1024
    /// `client-output-buffer-limit normal <hard> <soft> <soft-seconds>`; 0 disables a limit, as in Redis.
    public var outputBufferHardLimit = 0
    public var outputBufferSoftLimit = 0
    public var outputBufferSoftSeconds = 0
    /// `client-output-buffer-limit pubsub 32mb 8mb 60`: subscribers that don't read are disconnected.
    public var pubsubOutputBufferHardLimit = 32 * 1024 * 1024
    public var pubsubOutputBufferSoftLimit = 8 * 1024 * 1024
    public var pubsubOutputBufferSoftSeconds = 60
    /// `notify-keyspace-events`: which keyspace notifications are published (none by default).
    public var notifyKeyspaceEvents = KeyspaceEvents()
    /// CLIENT TRACKING: how many keys the tracking table remembers before it invalidates some (0: no limit).
    public var trackingTableMaxKeys = 1_000_000
    /// SLOWLOG: commands taking at least this many microseconds are logged (negative: none; 0: every one).
    public var slowlogLogSlowerThan = 10_000
    public var slowlogMaxLen = 128
    /// Per-command latency histograms (LATENCY HISTOGRAM, INFO latencystats) and the percentiles INFO shows.
    public var latencyTracking = true
    public var latencyTrackingInfoPercentiles: [Double] = [50, 99, 99.9]
    /// The Prometheus endpoint's port (0: off), on the same bind addresses as the server.
    public var metricsPort = 0
    /// The latency monitor records events taking at least this many milliseconds (0: off).
    public var latencyMonitorThreshold = 0
    /// Milliseconds a script or function may run before other clients reaching its shards get -BUSY and
    /// SCRIPT KILL / FUNCTION KILL may stop it (`busy-reply-threshold`, alias `lua-time-limit`).
    public var busyReplyThreshold = 5000
    /// What a script that reaches a key it did not declare gets: an error (`error`), or a rerun with every shard
    /// held (`lock-all`).
    public var luaUndeclaredKeys = "error"
    /// The most memory one event loop's Lua heap may hold while a script runs (0: no bound).
    public var luaMemoryLimit = 256 * 1024 * 1024
    public var pidfile = ""
    public var daemonize = false
    /// When small hashes and sets leave their compact encodings (Redis 7.0's names and defaults).
    public var hashMaxListpackEntries = 512
    public var hashMaxListpackValue = 64
    public var setMaxIntsetEntries = 512
    public var listMaxListpackSize = -2
    public var zsetMaxListpackEntries = 128
    public var zsetMaxListpackValue = 64
    /// A sparse HyperLogLog whose string would grow past this becomes dense (Redis's default).
    public var hllSparseMaxBytes = 3000

    public init() {}

    public var encodingLimits: EncodingLimits {
        EncodingLimits(
            hashMaxListpackEntries: hashMaxListpackEntries, hashMaxListpackValue: hashMaxListpackValue,
            setMaxIntsetEntries: setMaxIntsetEntries, listMaxListpackSize: listMaxListpackSize,
            zsetMaxListpackEntries: zsetMaxListpackEntries, zsetMaxListpackValue: zsetMaxListpackValue)
    }

    /// Event loops to run: `io-threads`, or the number of cores.
    public var effectiveIOThreads: Int {
        ioThreads > 0 ? ioThreads : max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

/// One `save <seconds> <changes>` rule.
public struct SaveRule: Sendable, Equatable {
    public var seconds: Int
    public var changes: Int
}

/// A configuration value that could not be applied; `message` is Redis's wording where Redis has one.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static let badDirective = ConfigError("Bad directive or wrong number of arguments")
    static let notInteger = ConfigError("argument couldn't be parsed into an integer")
    static let notBoolean = ConfigError("argument must be 'yes' or 'no'")
    static let notMemory = ConfigError("argument must be a memory value")
}

/// The option table: the single description of every option, used by the config file, the command line and
/// CONFIG GET/SET.
struct ConfigOption: Sendable {
    let name: String
    /// Can CONFIG SET change it while running?
    let mutable: Bool
    let get: @Sendable (ServerConfig) -> String
    let set: @Sendable (inout ServerConfig, [String]) throws(ConfigError) -> Void

    static func integer(
        _ name: String, _ path: WritableKeyPath<ServerConfig, Int> & Sendable, mutable: Bool = true,
        range: ClosedRange<Int> = 0...Int.max
    ) -> ConfigOption {
        ConfigOption(name: name, mutable: mutable, get: { String($0[keyPath: path]) }) {
            config, args throws(ConfigError) in
            guard args.count == 1 else { throw .badDirective }
            guard let value = Int(args[0]) else { throw .notInteger }
            guard range.contains(value) else {
                throw ConfigError("argument must be between \(range.lowerBound) and \(range.upperBound) inclusive")
            }
            config[keyPath: path] = value
        }
    }

    static func memory(
        _ name: String, _ path: WritableKeyPath<ServerConfig, Int> & Sendable, mutable: Bool = true
    )
        -> ConfigOption
    {
        ConfigOption(name: name, mutable: mutable, get: { String($0[keyPath: path]) }) {
            config, args throws(ConfigError) in
            guard args.count == 1 else { throw .badDirective }
            guard let value = parseMemory(args[0]) else { throw .notMemory }
            config[keyPath: path] = value
        }
    }

    static func boolean(
        _ name: String, _ path: WritableKeyPath<ServerConfig, Bool> & Sendable, mutable: Bool = true
    )
        -> ConfigOption
    {
        ConfigOption(name: name, mutable: mutable, get: { $0[keyPath: path] ? "yes" : "no" }) {
            config, args throws(ConfigError) in
            guard args.count == 1 else { throw .badDirective }
            switch args[0].lowercased() {
            case "yes": config[keyPath: path] = true
            case "no": config[keyPath: path] = false
            default: throw .notBoolean
            }
        }
    }

    static func string(
        _ name: String, _ path: WritableKeyPath<ServerConfig, String> & Sendable, mutable: Bool = true,
        choices: [String]? = nil
    ) -> ConfigOption {
        ConfigOption(name: name, mutable: mutable, get: { $0[keyPath: path] }) { config, args throws(ConfigError) in
            guard args.count == 1 else { throw .badDirective }
            if let choices {
                let value = args[0].lowercased()
                guard choices.contains(value) else {
                    throw ConfigError("argument(s) must be one of the following: \(choices.joined(separator: ", "))")
                }
                config[keyPath: path] = value
            } else {
                config[keyPath: path] = args[0]
            }
        }
    }
}

/// Parses Redis memory values: `1000`, `1k` (1000), `1kb` (1024), `100mb`, `1gb`, case-insensitive.
public func parseMemory(_ text: String) -> Int? {
    let lower = text.lowercased()
    let units: [(String, Int)] = [
        ("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("g", 1_000_000_000),
        ("m", 1_000_000), ("k", 1000), ("b", 1),
    ]
    for (suffix, multiplier) in units where lower.hasSuffix(suffix) {
        guard let value = Int(lower.dropLast(suffix.count)), value >= 0 else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }
    guard let value = Int(lower), value >= 0 else { return nil }
    return value
}

extension ConfigOption {
    static let all: [ConfigOption] = [
        ConfigOption(name: "bind", mutable: false, get: { $0.bind.joined(separator: " ") }) {
            config, args throws(ConfigError) in
            guard !args.isEmpty else { throw .badDirective }
            config.bind = args
        },
        .integer("port", \.port, mutable: false, range: 0...65535),
        .boolean("protected-mode", \.protectedMode),
        .string("requirepass", \.requirepass),
        .integer("maxclients", \.maxclients, range: 1...1_000_000),
        .integer("timeout", \.timeout),
        .integer("tcp-keepalive", \.tcpKeepalive),
        .integer("tcp-backlog", \.tcpBacklog, mutable: false, range: 1...65535),
        .memory("maxmemory", \.maxmemory),
        .string(
            "maxmemory-policy", \.maxmemoryPolicy,
            choices: [
                "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu",
                "allkeys-random", "noeviction",
            ]),
        .integer("maxmemory-samples", \.maxmemorySamples, range: 1...64),
        .integer("lfu-log-factor", \.lfuLogFactor, range: 0...1_000_000),
        .integer("lfu-decay-time", \.lfuDecayTime, range: 0...1_000_000),
        ConfigOption(
            name: "save", mutable: true,
            get: { config in
                config.save.map { "\($0.seconds) \($0.changes)" }.joined(separator: " ")
            }
        ) { config, args throws(ConfigError) in
            if args.count == 1 && args[0].isEmpty {
                config.save = []
                return
            }
            guard !args.isEmpty, args.count % 2 == 0 else { throw ConfigError("Invalid save parameters") }
            var rules: [SaveRule] = []
            var index = 0
            while index < args.count {
                guard let seconds = Int(args[index]), let changes = Int(args[index + 1]), seconds >= 1, changes >= 0
                else { throw ConfigError("Invalid save parameters") }
                rules.append(SaveRule(seconds: seconds, changes: changes))
                index += 2
            }
            config.save = rules
        },
        .string("dir", \.dir),
        .string("dbfilename", \.dbfilename),
        .string("import-rdb", \.importRDB, mutable: false),
        .boolean("stop-writes-on-bgsave-error", \.stopWritesOnBgsaveError),
        .string("loglevel", \.loglevel, choices: ["debug", "verbose", "notice", "warning", "nothing"]),
        .string("logfile", \.logfile, mutable: false),
        .integer("databases", \.databases, mutable: false, range: 1...1_000_000),
        .integer("io-threads", \.ioThreads, mutable: false, range: 0...128),
        ConfigOption(name: "shards", mutable: false, get: { String($0.shards) }) { config, args throws(ConfigError) in
            guard args.count == 1 else { throw .badDirective }
            guard let value = Int(args[0]) else { throw .notInteger }
            guard value >= 1, value <= 65536, value & (value - 1) == 0 else {
                throw ConfigError("argument must be a power of two between 1 and 65536")
            }
            config.shards = value
        },
        .integer("hz", \.hz, range: 1...500),
        .integer("hash-max-listpack-entries", \.hashMaxListpackEntries),
        .integer("hash-max-listpack-value", \.hashMaxListpackValue),
        // Redis 7.0 still accepts the pre-7.0 names as aliases.
        .integer("hash-max-ziplist-entries", \.hashMaxListpackEntries),
        .integer("hash-max-ziplist-value", \.hashMaxListpackValue),
        .integer("set-max-intset-entries", \.setMaxIntsetEntries),
        .integer("list-max-listpack-size", \.listMaxListpackSize, range: Int(Int32.min)...Int(Int32.max)),
        .integer("zset-max-listpack-entries", \.zsetMaxListpackEntries),
        .integer("zset-max-listpack-value", \.zsetMaxListpackValue),
        .integer("zset-max-ziplist-entries", \.zsetMaxListpackEntries),
        .integer("zset-max-ziplist-value", \.zsetMaxListpackValue),
        .integer("list-max-ziplist-size", \.listMaxListpackSize, range: Int(Int32.min)...Int(Int32.max)),
        .memory("client-query-buffer-limit", \.clientQueryBufferLimit),
        .memory("proto-max-bulk-len", \.protoMaxBulkLen),
        .memory("hll-sparse-max-bytes", \.hllSparseMaxBytes),
        ConfigOption(
            name: "client-output-buffer-limit", mutable: true,
            get: { config in
                "normal \(config.outputBufferHardLimit) \(config.outputBufferSoftLimit) \(config.outputBufferSoftSeconds) "
                    + "slave 268435456 67108864 60 pubsub \(config.pubsubOutputBufferHardLimit) "
                    + "\(config.pubsubOutputBufferSoftLimit) \(config.pubsubOutputBufferSoftSeconds)"
            }
        ) { config, args throws(ConfigError) in
            guard args.count % 4 == 0, !args.isEmpty else {
                throw ConfigError("Wrong number of arguments in buffer limit configuration.")
            }
            var index = 0
            while index < args.count {
                let kind = args[index].lowercased()
                guard ["normal", "replica", "slave", "pubsub"].contains(kind) else {
                    throw ConfigError("Invalid client class specified in buffer limit configuration.")
                }
                guard let hard = parseMemory(args[index + 1]), let soft = parseMemory(args[index + 2]),
                    let seconds = Int(args[index + 3]), seconds >= 0
                else { throw ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.") }
                if kind == "normal" {
                    config.outputBufferHardLimit = hard
                    config.outputBufferSoftLimit = soft
                    config.outputBufferSoftSeconds = seconds
                } else if kind == "pubsub" {
                    config.pubsubOutputBufferHardLimit = hard
                    config.pubsubOutputBufferSoftLimit = soft
                    config.pubsubOutputBufferSoftSeconds = seconds
                }
                index += 4
            }
        },
        ConfigOption(name: "notify-keyspace-events", mutable: true, get: { $0.notifyKeyspaceEvents.description }) {
            config, args throws(ConfigError) in
            guard args.count == 1 else { throw .badDirective }
            guard let events = KeyspaceEvents(args[0]) else {
                throw ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
            }
            config.notifyKeyspaceEvents = events
        },
        .integer("tracking-table-max-keys", \.trackingTableMaxKeys),
        .integer("slowlog-log-slower-than", \.slowlogLogSlowerThan, range: Int(Int64.min)...Int(Int64.max)),
        .integer("slowlog-max-len", \.slowlogMaxLen),
        .boolean("latency-tracking", \.latencyTracking),
        ConfigOption(
            name: "latency-tracking-info-percentiles", mutable: true,
            get: { config in config.latencyTrackingInfoPercentiles.map { formatPercentile($0) }.joined(separator: " ") }
        ) { config, args throws(ConfigError) in
            let words = args.flatMap { $0.split(separator: " ").map(String.init) }
            var values: [Double] = []
            for word in words {
                guard let value = Double(word), value >= 0, value <= 100 else {
                    throw ConfigError("latency-tracking-info-percentiles: percentiles must be between 0.0 and 100.0")
                }
                values.append(value)
            }
            config.latencyTrackingInfoPercentiles = values
        },
        .integer("metrics-port", \.metricsPort, mutable: false, range: 0...65535),
        .integer("latency-monitor-threshold", \.latencyMonitorThreshold),
        .integer("busy-reply-threshold", \.busyReplyThreshold),
        .integer("lua-time-limit", \.busyReplyThreshold),
        ConfigOption(name: "lua-undeclared-keys", mutable: true, get: { $0.luaUndeclaredKeys }) {
            config, args throws(ConfigError) in
            guard args.count == 1 else { throw .badDirective }
            let value = args[0].lowercased()
            guard value == "error" || value == "lock-all" else { throw ConfigError("argument must be 'error' or 'lock-all'") }
            config.luaUndeclaredKeys = value
        },
        .memory("lua-memory-limit", \.luaMemoryLimit),
        .string("pidfile", \.pidfile, mutable: false),
        .boolean("daemonize", \.daemonize, mutable: false),
        // Accepted for compatibility with tools that read or set them; Shoal has no AOF.
        ConfigOption(name: "appendonly", mutable: true, get: { _ in "no" }) { _, args throws(ConfigError) in
            guard args.count == 1 else { throw .badDirective }
            guard args[0].lowercased() == "no" else {
                throw ConfigError("Shoal has no append-only file; use snapshots")
            }
        },
    ]

    static let byName: [String: ConfigOption] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}

// MARK: - Loading

extension ServerConfig {
    /// Applies one directive (`name arg...`), as read from a file line or from `--name arg...`.
    public mutating func apply(_ name: String, _ args: [String]) throws(ConfigError) {
        guard let option = ConfigOption.byName[name.lowercased()] else { throw .badDirective }
        try option.set(&self, args)
    }

    /// Applies redis.conf-style text. Errors name the line and quote it, as Redis does.
    public mutating func load(text: String, source: String) throws(ConfigError) {
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let words = splitArguments(line) else {
                throw Self.fatal(
                    source: "\(source), line \(number + 1)", line: line, "Unbalanced quotes in configuration line")
            }
            guard let name = words.first else { continue }
            do throws(ConfigError) {
                try apply(name, Array(words.dropFirst()))
            } catch {
                throw Self.fatal(source: "\(source), line \(number + 1)", line: line, error.message)
            }
        }
    }

    /// Applies `--name value ...` arguments: each `--name` takes the words up to the next `--`.
    public mutating func load(arguments: [String]) throws(ConfigError) {
        var index = 0
        while index < arguments.count {
            let flag = arguments[index]
            guard flag.hasPrefix("--"), flag.count > 2 else {
                throw Self.fatal(source: "the command line", line: flag, "Invalid option, expected --name value")
            }
            var values: [String] = []
            index += 1
            while index < arguments.count, !(arguments[index].hasPrefix("--") && arguments[index].count > 2) {
                values.append(arguments[index])
                index += 1
            }
            let name = String(flag.dropFirst(2))
            // As redis-server: an option that takes several words also takes them as one quoted argument, as
            // docker-compose files write them (`--save "3600 1 300 100"`, `--client-output-buffer-limit
            // "normal 64mb 32mb 10"`, `--bind "127.0.0.1 ::1"`).
            if Self.multiWordOptions.contains(name.lowercased()), values.count == 1, values[0].contains(" ") {
                values = values[0].split(separator: " ").map(String.init)
            }
            do throws(ConfigError) {
                try apply(name, values)
            } catch {
                let line = ([flag] + values).joined(separator: " ")
                throw Self.fatal(source: "the command line option \(flag)", line: line, error.message)
            }
        }
    }

    static let multiWordOptions: Set<String> = ["save", "client-output-buffer-limit", "bind"]

    static func fatal(source: String, line: String, _ message: String) -> ConfigError {
        ConfigError(
            """

            *** FATAL CONFIG FILE ERROR (Shoal \(shoalVersion)) ***
            Reading the configuration file, at \(source)
            >>> '\(line)'
            \(message)
            """)
    }

    /// Every option matching a glob pattern, as (name, value) pairs for CONFIG GET.
    func matching(_ pattern: String) -> [(String, String)] {
        let patternBytes = Array(pattern.utf8)
        return ConfigOption.all.compactMap { option in
            globMatch(patternBytes, Array(option.name.utf8), caseInsensitive: true)
                ? (option.name, option.get(self)) : nil
        }
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" || first == "\r" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" || last == "\r" { slice = slice.dropLast() }
        return String(slice)
    }
}

/// The configuration as it is now, shared by all threads. CONFIG SET replaces it whole under the mutex.
///
/// Running code reads it one of two ways, by how hot the path is. Cold code (INFO, CONFIG GET, a save) takes
/// `current`, a copy made under the mutex. Hot code (the dispatcher, the event loops, the cron) reads a
/// `SettingsView` of its own thread: plain values, refreshed when `generation` moves, which costs one relaxed
/// atomic load per check and never a lock.
public final class ConfigStore: Sendable {
    private let state: Locked<(config: ServerConfig, settings: Settings)>
    private let changes = Atomic<Int>(0)

    public init(_ config: ServerConfig) { state = Locked((config, Settings(config))) }

    public var current: ServerConfig { state.withLock { $0.config } }

    /// The hot values of `current`, derived once per change.
    public var settings: Settings { state.withLock { $0.settings } }

    /// Moves on every change (CONFIG SET), so a `SettingsView` knows when to copy `settings` again.
    var generation: Int { changes.load(ordering: .acquiring) }

    func update<R, E: Error>(_ body: (inout ServerConfig) throws(E) -> R) throws(E) -> R {
        let result = try state.withLock { state throws(E) -> R in
            let result = try body(&state.config)
            state.settings = Settings(state.config)
            return result
        }
        changes.add(1, ordering: .releasing)
        return result
    }
}

/// What hot paths read from the configuration: plain values (no strings, no arrays), so a copy is free.
public struct Settings: Sendable {
    public let maxmemory: Int
    public let evictionPolicy: EvictionPolicy
    public let maxmemorySamples: Int
    public let protoMaxBulkLen: Int
    public let queryBufferLimit: Int
    public let outputLimits: (hard: Int, soft: Int, softSeconds: Int)
    public let pubsubOutputLimits: (hard: Int, soft: Int, softSeconds: Int)
    /// Microseconds from which a command is logged in SLOWLOG (Int.max when off).
    public let slowlogThreshold: Int
    public let latencyTracking: Bool
    public let idleTimeoutSeconds: Int
    public let tcpKeepalive: Int
    public let maxClients: Int
    public let protectedMode: Bool
    public let hasPassword: Bool
    public let hz: Int
    public let encodingLimits: EncodingLimits
    public let busyReplyThreshold: Int
    /// `lua-undeclared-keys lock-all`.
    public let scriptsMayLockAll: Bool
    public let luaMemoryLimit: Int
    public let hllSparseMaxBytes: Int

    init(_ config: ServerConfig) {
        hllSparseMaxBytes = config.hllSparseMaxBytes
        busyReplyThreshold = config.busyReplyThreshold
        scriptsMayLockAll = config.luaUndeclaredKeys == "lock-all"
        luaMemoryLimit = config.luaMemoryLimit
        encodingLimits = config.encodingLimits
        maxmemory = config.maxmemory
        evictionPolicy = EvictionPolicy(rawValue: config.maxmemoryPolicy) ?? .noEviction
        maxmemorySamples = config.maxmemorySamples
        protoMaxBulkLen = config.protoMaxBulkLen
        queryBufferLimit = config.clientQueryBufferLimit
        outputLimits = (config.outputBufferHardLimit, config.outputBufferSoftLimit, config.outputBufferSoftSeconds)
        slowlogThreshold = config.slowlogLogSlowerThan < 0 ? Int.max : config.slowlogLogSlowerThan
        latencyTracking = config.latencyTracking
        pubsubOutputLimits = (
            config.pubsubOutputBufferHardLimit, config.pubsubOutputBufferSoftLimit, config.pubsubOutputBufferSoftSeconds
        )
        idleTimeoutSeconds = config.timeout
        tcpKeepalive = config.tcpKeepalive
        maxClients = config.maxclients
        protectedMode = config.protectedMode
        hasPassword = !config.requirepass.isEmpty
        hz = max(1, config.hz)
    }
}

/// One thread's copy of the settings (an event loop's, shared by its sessions; the cron's; a detached
/// session's). Only its owning thread touches it.
final class SettingsView {
    private let store: ConfigStore
    private var seen: Int
    @exclusivity(unchecked) private(set) var current: Settings

    init(_ store: ConfigStore) {
        self.store = store
        seen = store.generation
        current = store.settings
    }

    /// Copies the settings again if the configuration changed since the last look.
    @inline(__always)
    func refresh() {
        let generation = store.generation
        guard generation != seen else { return }
        seen = generation
        current = store.settings
    }
}

/// A percentile as Redis prints it in CONFIG GET and INFO (`99.9`, `50`): `%f` with trailing zeros dropped.
func formatPercentile(_ value: Double) -> String {
    var text = String(decoding: cFormat("%f", [value]), as: UTF8.self)
    while text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
    return text
}
