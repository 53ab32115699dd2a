import Logging
import ShoalPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Writes log lines in Redis's format, `pid:M 22 Nov 2026 03:25:28.123 * message`, to standard output or to
/// `logfile`. Levels map as Redis's: debug `.`, verbose `-`, notice `*`, warning `#`.
public struct ShoalLogHandler: LogHandler {
    /// The destination shared by every logger in the process.
    final class Sink: Sendable {
        let fd: Locked<Int32>
        init(fd: Int32) { self.fd = Locked(fd) }

        func write(_ line: String) {
            var line = line
            fd.withLock { fd in
                // A log line that can't be written (full disk, closed stderr) is dropped, not retried forever.
                line.withUTF8 { bytes in try? Syscall.writeAll(fd, UnsafeRawBufferPointer(bytes)) }
            }
        }
    }

    private let sink: Sink
    /// One level for the whole process, so CONFIG SET loglevel takes effect everywhere at once.
    private static let sharedLevel = Atomic<Int>(Logger.Level.notice.index)

    public static func setLevel(_ level: Logger.Level) { sharedLevel.store(level.index, ordering: .relaxed) }

    public var logLevel: Logger.Level {
        get { Logger.Level.allCases[Self.sharedLevel.load(ordering: .relaxed)] }
        set { Self.setLevel(newValue) }
    }
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    /// Opens `logfile` for appending (empty: standard output). Throws when it can't be opened.
    public static func makeFactory(
        logfile: String, level: Logger.Level
    ) throws(SystemError)
        -> @Sendable (String) -> any LogHandler
    {
        var fd: Int32 = STDOUT_FILENO
        if !logfile.isEmpty {
            fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            if fd < 0 { throw SystemError("open logfile \(logfile)") }
        }
        let sink = Sink(fd: fd)
        return { _ in ShoalLogHandler(sink: sink, logLevel: level) }
    }

    init(sink: Sink, logLevel: Logger.Level) {
        self.sink = sink
        Self.setLevel(logLevel)
    }

    /// Redis's level names to swift-log levels.
    public static func level(named name: String) -> Logger.Level {
        switch name {
        case "debug": return .debug
        case "verbose": return .info
        case "warning": return .warning
        case "nothing": return .critical
        default: return .notice
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let message = event.message
        let mark: Character =
            switch event.level {
            case .trace, .debug: "."
            case .info: "-"
            case .notice: "*"
            default: "#"
            }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        localtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, "%d %b %Y %H:%M:%S", &parts)
        let stamp = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let millis = Int(now.tv_nsec / 1_000_000)
        let millisText = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        sink.write("\(getpid()):M \(stamp).\(millisText) \(mark) \(message)\n")
    }
}

extension Logger.Level {
    var index: Int { Logger.Level.allCases.firstIndex(of: self) ?? 0 }
}
