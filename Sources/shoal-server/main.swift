import Logging
import ShoalPersistence
import ShoalPosix
import ShoalServer
import ShoalStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// shoal-server [/path/to/shoal.conf] [--option value ...], like redis-server.

func printUsage() {
    print(
        """
        Usage: shoal-server [/path/to/shoal.conf] [options]
               shoal-server -v or --version
               shoal-server -h or --help
               shoal-server --check-snapshot <file>   (validate a snapshot file and exit)
               shoal-server --ping [--host h] [--port p] (health check: exit 0 when the server answers PONG)

        The password can come from the environment: SHOAL_PASSWORD sets requirepass (unless a file or flag
        does), and --ping uses it to authenticate.

        Options are any configuration directive, given as --name value; they override the file.

        Examples:
               shoal-server (run the server with the default configuration)
               shoal-server conf/shoal.conf
               shoal-server --port 7777
               shoal-server conf/shoal.conf --loglevel verbose --io-threads 4
        """)
}

func fail(_ message: String) -> Never {
    var line = message + "\n"
    line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(1)
}

func readFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    guard let bytes = try? Syscall.readToEnd(fd) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
    printUsage()
    exit(0)
}
if arguments.contains("--version") || arguments.contains("-v") {
    print("Shoal server v=\(shoalVersion) (Redis \(redisCompatibilityVersion) protocol) bits=64")
    exit(0)
}

if arguments.first == "--ping" {
    var host = "127.0.0.1"
    var port = 6379
    var index = 1
    while index + 1 < arguments.count {
        if arguments[index] == "--host" { host = arguments[index + 1] }
        if arguments[index] == "--port", let value = Int(arguments[index + 1]) { port = value }
        index += 2
    }
    let password = ProcessEnvironment.value("SHOAL_PASSWORD")
    exit(healthCheck(host: host, port: port, password: password) ? 0 : 1)
}

if let index = arguments.firstIndex(of: "--check-snapshot") {
    guard index + 1 < arguments.count else { fail("Usage: shoal-server --check-snapshot <file>") }
    let path = arguments[index + 1]
    do throws(SnapshotError) {
        let stats = try SnapshotReader.check(path: path, now: currentTimeMilliseconds())
        print("[offset 0] Checking snapshot file \(path)")
        print("[info] format version \(stats.formatVersion), created at \(stats.createdAt / 1000) (unix seconds)")
        for database in stats.keysPerDatabase.keys.sorted() {
            print("[info] db\(database): \(stats.keysPerDatabase[database]!) keys")
        }
        print("[info] \(stats.keys) keys alive, \(stats.expiredSkipped) already expired")
        print("[info] \(stats.fileBytes) bytes in the file, \(stats.rawBytes) bytes decompressed")
        print("\\o/ snapshot looks OK! \\o/")
        exit(0)
    } catch {
        fail("--- SNAPSHOT ERROR DETECTED ---\n\(error)")
    }
}

var config = ServerConfig()
var configFile: String?
if let first = arguments.first, !first.hasPrefix("--") {
    configFile = first
    arguments.removeFirst()
}
do throws(ConfigError) {
    if let configFile {
        guard let text = readFile(configFile) else {
            fail("Fatal error, can't open config file '\(configFile)': \(String(cString: strerror(errno)))")
        }
        try config.load(text: text, source: configFile)
    }
    try config.load(arguments: arguments)
    // The password may come from the environment (containers): file or flags win when they set one.
    if config.requirepass.isEmpty, let password = ProcessEnvironment.value("SHOAL_PASSWORD"), !password.isEmpty {
        config.requirepass = password
    }
} catch {
    fail(error.message)
}

let logFactory: @Sendable (String) -> any LogHandler
do throws(SystemError) {
    logFactory = try ShoalLogHandler.makeFactory(
        logfile: config.logfile, level: ShoalLogHandler.level(named: config.loglevel))
} catch {
    fail("Can't open the log file: \(error)")
}
LoggingSystem.bootstrap(logFactory)
let logger = Logger(label: "shoal")

// Block the stop signals in every thread (the event loops inherit the mask) and take them here with sigwait.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

logger.notice("oO0OoO0OoO0Oo Shoal is starting oO0OoO0OoO0Oo")
logger.notice("Shoal version=\(shoalVersion), bits=64, pid=\(getpid()), just started")
if let configFile {
    logger.notice("Configuration loaded from \(configFile)")
} else {
    logger.warning(
        "No config file specified, using the default config. In order to specify a config file use shoal-server /path/to/shoal.conf"
    )
}
if config.daemonize {
    logger.warning(
        "daemonize is not supported: Shoal runs in the foreground (use systemd or a container to supervise it)")
}

// The snapshot directory must exist (Redis refuses to start otherwise) and, with saving on, be writable.
var directoryInfo = stat()
if stat(config.dir, &directoryInfo) != 0 || (directoryInfo.st_mode & S_IFMT) != S_IFDIR {
    logger.warning("Can't chdir to '\(config.dir)': \(String(cString: strerror(errno == 0 ? ENOTDIR : errno)))")
    exit(1)
}
if !config.save.isEmpty && access(config.dir, W_OK) != 0 {
    logger.warning("The snapshot directory '\(config.dir)' is not writable: \(String(cString: strerror(errno)))")
    exit(1)
}

let state = ServerState(config: config, logger: logger, configFile: configFile)
let snapshotPath = config.dir.hasSuffix("/") ? config.dir + config.dbfilename : config.dir + "/" + config.dbfilename
do throws(SnapshotError) {
    let loaded = try SnapshotReader.load(
        path: snapshotPath, into: state.keyspace, now: currentTimeMilliseconds(),
        limits: state.config.current.encodingLimits
    ) {
        progress in
        logger.notice("Loading snapshot: \(progress.keys) keys, \(progress.rawBytes) bytes read...")
    }
    if let loaded {
        logger.notice(
            "DB loaded from disk: \(loaded.keys) keys (\(loaded.expiredSkipped) expired skipped) in \(Double(loaded.microseconds) / 1e6) seconds"
        )
        state.markLoaded()
    }
} catch {
    // Never start empty over a snapshot we could not read: that would overwrite it at the next save.
    logger.warning("Fatal error loading the snapshot: \(error)")
    logger.warning("Refusing to start. Move the file away, or fix it, to start without it.")
    exit(1)
}
let server = Server(state: state)
let requestedShutdown = Mutex<ShutdownRequest?>(nil)
state.setShutdownHandler { request in
    requestedShutdown.withLock { $0 = request }
    kill(getpid(), SIGTERM)
}

do throws(SystemError) {
    try server.start()
} catch {
    logger.warning(
        "Failed listening on \(config.bind.joined(separator: " ")) port \(config.port) (\(error)), aborting.")
    exit(1)
}
if !config.pidfile.isEmpty {
    let fd = open(config.pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    if fd >= 0 {
        var text = "\(getpid())\n"
        text.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
        close(fd)
    } else {
        logger.warning("Failed to write PID file \(config.pidfile): \(String(cString: strerror(errno)))")
    }
}
logger.notice(
    "Running mode=standalone, port=\(server.port), io-threads=\(state.ioThreads), shards=\(config.shards), databases=\(config.databases)"
)
logger.notice("Server initialized")
logger.notice("Ready to accept connections tcp")

var received: Int32 = 0
while true {
    while sigwait(&stopSignals, &received) != 0 {}
    if let request = requestedShutdown.withLock({ $0 }) {
        // SHUTDOWN already saved (or was told not to) before it asked us to stop.
        logger.notice("User requested shutdown (\(request))...")
        break
    }
    logger.notice("Received \(received == SIGINT ? "SIGINT" : "SIGTERM") scheduling shutdown...")
    guard !state.config.current.save.isEmpty else { break }
    if state.saveBeforeShutdown() { break }
    logger.warning(
        "Error trying to save the DB, can't exit. Send the signal again after fixing it, or SHUTDOWN NOSAVE.")
}
// A second signal while shutting down exits at once.
_ = startDetachedThread {
    var again: Int32 = 0
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    while sigwait(&signals, &again) != 0 {}
    _exit(1)
}
server.stop()
if !config.pidfile.isEmpty { unlink(config.pidfile) }
logger.notice("Shoal is now ready to exit, bye bye...")
exit(0)
