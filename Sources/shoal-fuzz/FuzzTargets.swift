import Logging
import RESP
import ShoalServer
import ShoalStore

#if canImport(Glibc)
    import Glibc
#endif

/// The two fuzz targets of issue 7, shared by the libFuzzer build (`scripts/fuzz.sh`) and the corpus replay
/// that every test run does (`shoal-fuzz replay`). Each one turns any input into requests and checks the
/// properties that must hold for every input, crashing (which is how a fuzzer is told) when one does not.
enum FuzzTargets {
    /// The request parser on arbitrary bytes, delivered in chunks whose sizes the input's first byte picks
    /// (so split points are fuzzed too). Checked: every argument lies inside the bytes it was parsed from, a
    /// command never claims more bytes than it was given, and after a protocol error the parser is reset and
    /// goes on as the server does for the next client.
    static func parser(_ data: UnsafeRawBufferPointer) {
        guard let first = data.first else { return }
        let chunk = Int(first % 17) + 1
        let input = UnsafeRawBufferPointer(rebasing: data.dropFirst())
        var parser = RequestParser(limits: RequestLimits())
        var buffer: [UInt8] = []
        var fed = 0
        while fed < input.count {
            let end = min(input.count, fed + chunk)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[fed..<end]))
            fed = end
            while !buffer.isEmpty {
                let outcome: Result<Int?, ProtocolError> = buffer.withUnsafeBytes { bytes in
                    do throws(ProtocolError) {
                        return .success(try parser.parse(bytes, authenticated: first & 0x80 == 0))
                    } catch {
                        return .failure(error)
                    }
                }
                guard case .success(let consumed) = outcome else {
                    // As the server does: reply with the error, close that client; the next one starts afresh.
                    parser.resetCommandState()
                    buffer.removeAll()
                    break
                }
                guard let consumed else { break }
                check(consumed > 0 && consumed <= buffer.count, "parser consumed \(consumed) of \(buffer.count) bytes")
                let extent = parser.isInline ? parser.inlineStorage.count : consumed
                for span in parser.spans {
                    check(
                        span.offset >= 0 && span.count >= 0 && span.offset + span.count <= extent,
                        "argument \(span) outside the \(extent) bytes it was parsed from")
                }
                buffer.removeFirst(consumed)
            }
        }
    }

    /// Commands the fuzzer may not run: they sleep, stop the process, write files or change the server's
    /// own settings (a fuzzer that sets `maxmemory 1` only finds OOM replies).
    static let excluded: Set<String> = ["shutdown", "debug", "save", "bgsave", "config", "client"]

    static let state: ServerState = {
        var config = ServerConfig()
        config.save = []
        config.databases = 4
        config.shards = 4
        config.dir = "/nonexistent"
        // Redis's 512 MB string limit lets one SETRANGE allocate 512 MB: legitimate, but it only measures
        // the fuzzer's RSS limit. 1 MB still exercises every limit check.
        config.protoMaxBulkLen = 1 << 20
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        let state = ServerState(config: config, logger: logger, memoryBaseline: 0)
        // The keys left at exit are reachable, but a key or value stored as a tagged enum payload (Swift
        // keeps the case in a pointer's spare bits: a long key or value, any hash or set) is a pointer
        // LeakSanitizer can't recognise, so its exit-time check would report whichever of those the last
        // inputs left behind. Flushing first (atexit runs after libFuzzer's exit, before LeakSanitizer's
        // check, which was registered earlier) frees them, so what the check still finds is a real leak:
        // something a flush did not free.
        atexit { FuzzTargets.state.keyspace.flushAll() }
        return state
    }()

    /// Command execution on whatever the parser makes of the input (RESP or inline, any argv): every command
    /// must produce exactly one well-formed reply, in RESP2 and RESP3. Keys persist between inputs (a fuzzer
    /// builds state up); the keyspace is flushed when it passes 10,000 keys or 64 MB so memory stays bounded.
    static func commands(_ data: UnsafeRawBufferPointer) {
        let state = Self.state
        let session = state.makeDetachedSession()
        guard let first = data.first else { return }
        session.protocolVersion = first & 1 == 0 ? 2 : 3
        var parser = RequestParser(limits: RequestLimits())
        var offset = 1
        while offset < data.count {
            let rest = UnsafeRawBufferPointer(rebasing: data[offset...])
            let consumed: Int?
            do throws(ProtocolError) { consumed = try parser.parse(rest) } catch { return }
            guard let consumed else { return }
            offset += consumed
            var argv: [[UInt8]] = []
            if parser.isInline {
                argv = parser.spans.map { Array(parser.inlineStorage[$0.offset..<$0.offset + $0.count]) }
            } else {
                argv = parser.spans.map { Array(rest[$0.offset..<$0.offset + $0.count]) }
            }
            guard let name = argv.first.map({ String(decoding: $0, as: UTF8.self).lowercased() }),
                !excluded.contains(name)
            else { continue }
            let reply = state.run(argv, session: session)
            let parsed = try? reply.withUnsafeBytes { try parseReply($0) }
            check(
                parsed != nil && parsed!.1 == reply.count,
                "\(argv.map { String(decoding: $0, as: UTF8.self) }) did not give exactly one well-formed reply")
            session.closeAfterReply = false
            if session.database >= 4 { session.database = 0 }
        }
        if state.keyspace.usedBytes > 64 << 20 || state.keyspace.keyCounts().reduce(0, { $0 + $1.keys }) > 10_000 {
            state.keyspace.flushAll()
        }
    }

    static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition {
            printError("shoal-fuzz: \(message())")
            abort()
        }
    }

    static func run(target: String, _ data: UnsafeRawBufferPointer) {
        switch target {
        case "commands": commands(data)
        default: parser(data)
        }
    }
}

/// Writes a line to standard error (fd 2; the C `stderr` global is not concurrency-safe to touch from Swift 6).
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
