import RESP
import ShoalPosix
import ShoalStore
import Synchronization

/// One SLOWLOG entry, as Redis keeps it (slowlog.c): arguments trimmed to 32, each to 128 bytes.
struct SlowLogEntry: Sendable {
    let id: Int
    let unixSeconds: Int
    let microseconds: Int
    let arguments: [[UInt8]]
    let clientAddress: String
    let clientName: String

    /// The arguments Redis 7 shows as `(redacted)` in SLOWLOG and MONITOR: AUTH's, and HELLO's after AUTH.
    static func redacting(_ args: Arguments) -> Set<Int> {
        var redacted = Set<Int>()
        if args.matchesLowercased(0, "auth") { redacted = Set(1..<args.count) }
        if args.matchesLowercased(0, "hello") {
            for index in 1..<args.count where args.matchesLowercased(index, "auth") {
                redacted.formUnion([index + 1, index + 2])
            }
        }
        return redacted
    }

    static let maxArguments = 32
    static let maxArgumentBytes = 128

    /// Redis's slowlogCreateEntry trimming, with passwords shown as `(redacted)` as Redis 7 does (AUTH's
    /// arguments, HELLO's after AUTH).
    static func trimmed(_ args: Arguments) -> [[UInt8]] {
        let kept = min(args.count, maxArguments)
        let redacted = redacting(args)
        return (0..<kept).map { index in
            if redacted.contains(index) { return Array("(redacted)".utf8) }
            if kept != args.count && index == kept - 1 {
                return Array("... (\(args.count - kept + 1) more arguments)".utf8)
            }
            let argument = args[index]
            guard argument.count > maxArgumentBytes else { return Array(argument) }
            return Array(argument.prefix(maxArgumentBytes)) + Array("... (\(argument.count - maxArgumentBytes) more bytes)".utf8)
        }
    }
}

/// The slow log, newest first, shared by every loop (a mutex: only slow commands take it).
final class SlowLog: Sendable {
    private let state = Locked<(nextID: Int, entries: [SlowLogEntry])>((0, []))

    func add(_ make: (Int) -> SlowLogEntry, maxLength: Int) {
        state.withLock { state in
            state.entries.insert(make(state.nextID), at: 0)
            state.nextID += 1
            if state.entries.count > maxLength { state.entries.removeLast(state.entries.count - maxLength) }
        }
    }

    func newest(_ count: Int) -> [SlowLogEntry] { state.withLock { Array($0.entries.prefix(count)) } }
    var count: Int { state.withLock { $0.entries.count } }
    func reset() { state.withLock { $0.entries.removeAll() } }
}

/// Commands Redis keeps out of the slow log (CMD_SKIP_SLOWLOG): EXEC's commands are logged one by one.
private let unloggedCommands: Set<String> = ["exec"]

extension ServerState {
    func noteSlowCommand(_ command: Command, _ client: ClientSession, _ args: Arguments, microseconds: Int) {
        let name = command.fullName.split(separator: "|").first.map(String.init) ?? command.name
        guard !unloggedCommands.contains(name) else { return }
        let arguments = SlowLogEntry.trimmed(args)
        let handle = client.handle
        let maxLength = config.current.slowlogMaxLen
        slowlog.add(
            { id in
                SlowLogEntry(
                    id: id, unixSeconds: Int(currentTimeMilliseconds() / 1000), microseconds: microseconds,
                    arguments: arguments, clientAddress: handle.address, clientName: handle.name)
            }, maxLength: maxLength)
    }
}

func slowlogGetCommand(_ ctx: CommandContext) throws(CommandError) {
    var count = 10
    guard ctx.args.count <= 3 else { throw .subcommandSyntax(ctx.args.string(1), of: "slowlog") }
    if ctx.args.count == 3 {
        guard let value = parseInt64(ctx.args[2]), value >= -1 else {
            throw CommandError("ERR count should be greater than or equal to -1")
        }
        count = value == -1 ? Int.max : Int(value)
    }
    let entries = ctx.server.slowlog.newest(count)
    ctx.out.arrayHeader(entries.count)
    for entry in entries {
        ctx.out.arrayHeader(6)
        ctx.out.integer(entry.id)
        ctx.out.integer(entry.unixSeconds)
        ctx.out.integer(entry.microseconds)
        ctx.out.bulkArray(entry.arguments)
        ctx.out.bulk(entry.clientAddress)
        ctx.out.bulk(entry.clientName)
    }
}

func slowlogLenCommand(_ ctx: CommandContext) throws(CommandError) { ctx.out.integer(ctx.server.slowlog.count) }

func slowlogResetCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.server.slowlog.reset()
    ctx.out.ok()
}

func slowlogHelpCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.bulkArray([
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP", "    Print this help.",
    ])
}

let slowlogCommands: [Command] = [
    Command(
        "slowlog", arity: -2, group: "server", summary: "A container for slow log commands.", since: "2.2.12",
        subcommands: [
            Command(
                "get", arity: -2, flags: [.admin, .loading, .stale], group: "server",
                summary: "Returns the slow log's entries.", since: "2.2.12", complexity: "O(N)",
                handler: slowlogGetCommand),
            Command(
                "len", arity: 2, flags: [.admin, .loading, .stale], group: "server",
                summary: "Returns the number of entries in the slow log.", since: "2.2.12",
                handler: slowlogLenCommand),
            Command(
                "reset", arity: 2, flags: [.admin, .loading, .stale], group: "server",
                summary: "Clears all entries from the slow log.", since: "2.2.12", complexity: "O(N)",
                handler: slowlogResetCommand),
            Command(
                "help", arity: 2, flags: [.loading, .stale], group: "server", summary: "Show helpful text.",
                since: "6.2.0", handler: slowlogHelpCommand),
        ]),
]
