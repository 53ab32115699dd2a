import Logging
import Shoal
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

// The library does the work (snapshot directory checks, loading the snapshot, binding, the loops): this main
// parses the command line, sets up logging and signals, and maps errors to Redis's messages and exit codes.
var configuration = ShoalConfiguration()
configuration.options = config
configuration.file = configFile
let shoal: ShoalInstance
do throws(ShoalError) {
    shoal = try ShoalInstance.start(configuration, logger: logger)
} catch {
    switch error {
    case .snapshot(let message) where message.hasPrefix("Can't chdir") || message.contains("not writable"):
        logger.warning("\(message)")
    case .snapshot(let message):
        // Never start empty over a snapshot we could not read: that would overwrite it at the next save.
        logger.warning("Fatal error loading the snapshot: \(message)")
        logger.warning("Refusing to start. Move the file away, or fix it, to start without it.")
    case .listen(let message):
        logger.warning("Failed listening on \(message), aborting.")
    default:
        logger.warning("\(error)")
    }
    exit(1)
}
let requestedShutdown = Mutex<Bool?>(nil)
shoal.onShutdownRequest { save in
    // SHUTDOWN already saved (or was told not to) before it asked us to stop.
    requestedShutdown.withLock { $0 = save ?? true }
    kill(getpid(), SIGTERM)
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
    "Running mode=standalone, port=\(shoal.port ?? 0), io-threads=\(config.effectiveIOThreads), shards=\(config.shards), databases=\(config.databases)"
)
logger.notice("Server initialized")
logger.notice("Ready to accept connections tcp")

var received: Int32 = 0
while true {
    while sigwait(&stopSignals, &received) != 0 {}
    if requestedShutdown.withLock({ $0 }) != nil {
        logger.notice("User requested shutdown...")
        break
    }
    logger.notice("Received \(received == SIGINT ? "SIGINT" : "SIGTERM") scheduling shutdown...")
    guard !shoal.currentOptions.save.isEmpty else { break }
    if (try? shoal.stop(save: true)) != nil { break }
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
try? shoal.stop()
if !config.pidfile.isEmpty { unlink(config.pidfile) }
logger.notice("Shoal is now ready to exit, bye bye...")
exit(0)
