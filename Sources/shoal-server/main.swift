import Logging
import ShoalServer
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// shoal-server [/path/to/shoal.conf] [--option value ...], like redis-server.

func printUsage() {
    print("""
        Usage: shoal-server [/path/to/shoal.conf] [options]
               shoal-server -v or --version
               shoal-server -h or --help

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
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &chunk, chunk.count)
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        bytes.append(contentsOf: chunk[..<count])
    }
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
    logger.warning("No config file specified, using the default config. In order to specify a config file use shoal-server /path/to/shoal.conf")
}
if config.daemonize {
    logger.warning("daemonize is not supported: Shoal runs in the foreground (use systemd or a container to supervise it)")
}

let state = ServerState(config: config, logger: logger, configFile: configFile)
let server = Server(state: state)
let requestedShutdown = Mutex<ShutdownRequest?>(nil)
state.setShutdownHandler { request in
    requestedShutdown.withLock { $0 = request }
    kill(getpid(), SIGTERM)
}

do throws(SystemError) {
    try server.start()
} catch {
    logger.warning("Failed listening on \(config.bind.joined(separator: " ")) port \(config.port) (\(error)), aborting.")
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
    "Running mode=standalone, port=\(server.port), io-threads=\(state.ioThreads), shards=\(config.shards), databases=\(config.databases)")
logger.notice("Server initialized")
logger.notice("Ready to accept connections tcp")

var received: Int32 = 0
while sigwait(&stopSignals, &received) != 0 {}
let signalName = received == SIGINT ? "SIGINT" : "SIGTERM"
if let request = requestedShutdown.withLock({ $0 }) {
    logger.notice("User requested shutdown (\(request))...")
} else {
    logger.notice("Received \(signalName) scheduling shutdown...")
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
