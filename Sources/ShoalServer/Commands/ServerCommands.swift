import RESP
import ShoalStore

#if canImport(Glibc)
    import Glibc
#endif

// Server commands (Redis's server.c, config.c and debug.c parts). COMMAND answers from the command table
// itself, so what it reports can never drift from what the dispatcher enforces.

// MARK: - Handlers, one per command

func infoCommand(_ ctx: CommandContext) throws(CommandError) {
    let sections = (1..<ctx.args.count).map { ctx.args.lowercased($0) }
    ctx.out.verbatim(ctx.server.info(sections: sections, store: ctx.store))
}

func timeCommand(_ ctx: CommandContext) throws(CommandError) {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    ctx.out.arrayHeader(2)
    ctx.out.bulk(String(now.tv_sec))
    ctx.out.bulk(String(now.tv_nsec / 1000))
}

func shutdownCommand(_ ctx: CommandContext) throws(CommandError) {
    var request = ShutdownRequest.defaultSave
    for index in 1..<max(1, ctx.args.count) {
        if ctx.args.matches(index, "NOSAVE") {
            request = .noSave
        } else if ctx.args.matches(index, "SAVE") {
            request = .save
        } else if ctx.args.matches(index, "NOW") || ctx.args.matches(index, "FORCE") {
            continue
        } else if ctx.args.matches(index, "ABORT") {
            throw .noShutdownInProgress
        } else {
            throw .syntax
        }
    }
    // A script past busy-reply-threshold holds its shards: only SHUTDOWN NOSAVE can stop the server then, and
    // it stops the script too.
    if ctx.server.scripting.busyCount.load(ordering: .relaxed) > 0 {
        guard request == .noSave else { throw CommandError.busyShutdown }
        ctx.server.scripting.abortBusyScripts()
    }
    // Save first, as Redis does: if it fails the server keeps running and says so.
    let saveFirst = request == .save || (request == .defaultSave && !ctx.server.config.current.save.isEmpty)
    if saveFirst {
        do throws(CommandError) {
            try ctx.server.snapshots.saveNow(reason: "SHUTDOWN")
        } catch {
            ctx.server.logger.warning("Error trying to save the DB, can't exit: \(error.text)")
            throw .shutdownFailed
        }
    }
    guard ctx.server.lifecycle.requestShutdown(.noSave) else { throw .shutdownFailed }
    // Like Redis, a successful SHUTDOWN sends no reply: the connection just closes.
    ctx.client.closeAfterReply = true
}

// MARK: - Handlers

func commandCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.arrayHeader(ctx.server.commands.commands.count)
    for command in ctx.server.commands.commands { writeCommandInfo(command, to: &ctx.out) }
}

func debugSleepCommand(_ ctx: CommandContext) throws(CommandError) {
    let seconds = try ctx.args.double(2)
    guard seconds >= 0, seconds < 1e6 else { throw .notFloat }
    if seconds > 0 { usleep(UInt32(seconds * 1_000_000)) }
    ctx.out.ok()
}

func debugHelpCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.bulkArray([
        "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "SLEEP <seconds>", "    Stop the server's event loop for <seconds>. Decimals allowed.",
        "HELP", "    Print this help.",
    ])
}

// MARK: - The table

// MARK: - The table: data that points at the handlers

let serverCommands: [Command] = [
    Command(
        "info", arity: -1, flags: [.loading, .stale], group: "server",
        summary: "Returns information and statistics about the server.",
        handler: infoCommand),
    Command(
        "time", arity: 1, flags: [.loading, .stale, .fast], group: "server",
        summary: "Returns the server time.", since: "2.6.0",
        handler: timeCommand),
    Command(
        "shutdown", arity: -1, flags: [.admin, .noscript, .loading, .stale], group: "server",
        summary: "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        handler: shutdownCommand),
    Command(
        "config", arity: -2, group: "server", summary: "A container for server configuration commands.",
        since: "2.0.0", subcommands: configSubcommands),
    Command(
        "command", arity: -1, flags: [.loading, .stale], group: "server",
        summary: "Returns detailed information about all commands.", since: "2.8.13", complexity: "O(N)",
        subcommands: commandSubcommands, handler: commandCommand),
    Command(
        "debug", arity: -2, flags: [.admin, .noscript, .loading, .stale], group: "server",
        summary: "A container for debugging commands.",
        subcommands: [
            Command(
                "sleep", arity: 3, group: "server", summary: "Stop the server for <seconds>. Decimals allowed.",
                handler: debugSleepCommand),
            Command(
                "help", arity: 2, group: "server", summary: "Show helpful text about the different subcommands.",
                handler: debugHelpCommand),
        ]),
]

// MARK: - CONFIG

// MARK: - Handlers, one per command

func configGetCommand(_ ctx: CommandContext) throws(CommandError) {
    let config = ctx.server.config.current
    var pairs: [(String, String)] = []
    var seen = Set<String>()
    for index in 2..<ctx.args.count {
        for pair in config.matching(ctx.args.string(index)) where seen.insert(pair.0).inserted { pairs.append(pair) }
    }
    ctx.out.mapHeader(pairs.count)
    for (name, value) in pairs {
        ctx.out.bulk(name)
        ctx.out.bulk(value)
    }
}

func configSetCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    guard args.count % 2 == 0 else { throw .wrongArity("config|set") }
    var names = Set<String>()
    // All-or-nothing, as Redis 7: apply every pair to a copy, and store it only if all succeeded.
    try ctx.server.config.update { (config: inout ServerConfig) throws(CommandError) in
        var updated = config
        for index in stride(from: 2, to: args.count, by: 2) {
            let name = args.lowercased(index)
            guard let option = ConfigOption.byName[name] else {
                throw .configSetUnknownOption(args.string(index))
            }
            guard names.insert(name).inserted else {
                throw .configSetFailed(name, "duplicate parameter")
            }
            guard option.mutable else {
                throw .configSetFailed(name, "can't set immutable config")
            }
            let value = args.string(index + 1)
            let words =
                name == "save" || name == "client-output-buffer-limit"
                ? (value.isEmpty ? [""] : value.split(separator: " ").map(String.init)) : [value]
            do throws(ConfigError) {
                try option.set(&updated, words)
            } catch {
                throw .configSetFailed(name, error.message)
            }
        }
        config = updated
    }
    ctx.server.configDidChange()
    ctx.out.ok()
}

func configResetstatCommand(_ ctx: CommandContext) throws(CommandError) {
    for stats in ctx.server.loopStats { stats.reset() }
    ctx.store.resetStatistics()
    ctx.out.ok()
}

func configHelpCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.bulkArray([
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>", "    Set the configuration <directive> to <value>.",
        "RESETSTAT", "    Reset statistics reported by the INFO command.",
        "HELP", "    Print this help.",
    ])
}

// MARK: - The table: data that points at the handlers

let configSubcommands: [Command] = [
    Command(
        "get", arity: -3, flags: [.admin, .noscript, .loading, .stale], group: "server",
        summary: "Returns the effective values of configuration parameters.", since: "2.0.0",
        complexity: "O(N)",
        handler: configGetCommand),
    Command(
        "set", arity: -4, flags: [.admin, .noscript, .loading, .stale], group: "server",
        summary: "Sets configuration parameters in-flight.", since: "2.0.0", complexity: "O(N)",
        handler: configSetCommand),
    Command(
        "rewrite", arity: 2, flags: [.admin, .noscript, .loading, .stale], group: "server",
        summary: "Persists the effective configuration to file.", since: "2.8.0",
        handler: configRewriteCommand),
    Command(
        "resetstat", arity: 2, flags: [.admin, .noscript, .loading, .stale], group: "server",
        summary: "Resets the server's statistics.", since: "2.0.0",
        handler: configResetstatCommand),
    Command(
        "help", arity: 2, flags: [.loading, .stale], group: "server",
        summary: "Returns helpful text about the different subcommands.", since: "5.0.0",
        handler: configHelpCommand),
]

// MARK: - COMMAND

// MARK: - Handlers, one per command

func commandCountCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.integer(ctx.server.commands.commands.count)
}

func commandInfoCommand(_ ctx: CommandContext) throws(CommandError) {
    let table = ctx.server.commands
    if ctx.args.count == 2 {
        ctx.out.arrayHeader(table.commands.count)
        for command in table.commands { writeCommandInfo(command, to: &ctx.out) }
        return
    }
    ctx.out.arrayHeader(ctx.args.count - 2)
    for index in 2..<ctx.args.count {
        if let command = table.command(named: ctx.args.string(index)) {
            writeCommandInfo(command, to: &ctx.out)
        } else {
            ctx.out.nullArray()
        }
    }
}

func commandDocsCommand(_ ctx: CommandContext) throws(CommandError) {
    let table = ctx.server.commands
    let selected =
        ctx.args.count == 2
        ? table.commands : (2..<ctx.args.count).compactMap { table.command(named: ctx.args.string($0)) }
    ctx.out.mapHeader(selected.count)
    for command in selected {
        ctx.out.bulk(command.name)
        writeCommandDocs(command, to: &ctx.out)
    }
}

func commandListCommand(_ ctx: CommandContext) throws(CommandError) {
    var names = ctx.server.commands.commands.flatMap { [$0.name] + $0.subcommands.map(\.fullName) }
    if ctx.args.count > 2 {
        guard ctx.args.count == 5, ctx.args.matches(2, "FILTERBY") else { throw .syntax }
        let value = ctx.args.string(4)
        if ctx.args.matches(3, "PATTERN") {
            names = names.filter { globMatch(Array(value.utf8), Array($0.utf8), caseInsensitive: true) }
        } else if ctx.args.matches(3, "ACLCAT") {
            let all = ctx.server.commands.flattened
            names = all.filter { aclCategories($0).contains("@\(value.lowercased())") }.map(\.fullName)
        } else if ctx.args.matches(3, "MODULE") {
            names = []
        } else {
            throw .syntax
        }
    }
    ctx.out.bulkArray(names)
}

func commandHelpCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.bulkArray([
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)", "    Return details about all commands.",
        "COUNT", "    Return the total number of commands in this server.",
        "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
        "    Return a list of all commands in this server.",
        "INFO [<command-name> ...]", "    Return details about multiple commands.",
        "DOCS [<command-name> ...]", "    Return documentation details about multiple commands.",
        "HELP", "    Print this help.",
    ])
}

// MARK: - The table: data that points at the handlers

let commandSubcommands: [Command] = [
    Command(
        "count", arity: 2, flags: [.loading, .stale], group: "server",
        summary: "Returns a count of commands.", since: "2.8.13",
        handler: commandCountCommand),
    Command(
        "info", arity: -2, flags: [.loading, .stale], group: "server",
        summary: "Returns information about one, multiple or all commands.", since: "2.8.13",
        complexity: "O(N)",
        handler: commandInfoCommand),
    Command(
        "docs", arity: -2, flags: [.loading, .stale], group: "server",
        summary: "Returns documentary information about one, multiple or all commands.", since: "7.0.0",
        complexity: "O(N)",
        handler: commandDocsCommand),
    Command(
        "list", arity: -2, flags: [.loading, .stale], group: "server",
        summary: "Returns a list of command names.", since: "7.0.0", complexity: "O(N)",
        handler: commandListCommand),
    Command(
        "help", arity: 2, flags: [.loading, .stale], group: "server",
        summary: "Returns helpful text about the different subcommands.", since: "5.0.0",
        handler: commandHelpCommand),
]

/// ACL categories derived from a command's group and flags, as Redis's `setImplicitACLCategories` does.
func aclCategories(_ command: Command) -> [String] {
    var categories: [String] = []
    switch command.group {
    case "string": categories += ["@string"]
    case "generic": categories += ["@keyspace"]
    case "connection": categories += ["@connection"]
    default: break
    }
    if command.flags.contains(.write) { categories.append("@write") }
    if command.flags.contains(.readonly) { categories.append("@read") }
    if command.flags.contains(.admin) { categories += ["@admin", "@dangerous"] }
    categories.append(command.flags.contains(.fast) ? "@fast" : "@slow")
    return categories
}

/// One entry of COMMAND / COMMAND INFO, Redis 7's ten fields.
func writeCommandInfo(_ command: Command, to out: inout ReplyBuffer) {
    out.arrayHeader(10)
    out.bulk(command.fullName)
    out.integer(command.arity)
    let flags = command.flags.names
    out.setHeader(flags.count)
    for flag in flags { out.simple(flag) }
    out.integer(command.firstKey)
    out.integer(command.lastKey)
    out.integer(command.keyStep)
    let categories = aclCategories(command)
    out.setHeader(categories.count)
    for category in categories { out.simple(category) }
    out.arrayHeader(0)  // tips
    if command.firstKey > 0 || command.numkeysAt > 0 {
        // (A command with both, ZUNIONSTORE, shows its numkeys spec here; Redis lists two specs.)
        // One key spec: where the search begins, then a range of keys or a `numkeys` count of them.
        out.arrayHeader(1)
        out.mapHeader(3)
        out.bulk("flags")
        out.setHeader(1)
        out.simple(command.flags.contains(.write) ? "RW" : "RO")
        out.bulk("begin_search")
        out.mapHeader(2)
        out.bulk("type")
        out.bulk("index")
        out.bulk("spec")
        out.mapHeader(1)
        out.bulk("index")
        out.integer(command.numkeysAt > 0 ? command.numkeysAt : command.firstKey)  // begin_search index
        out.bulk("find_keys")
        out.mapHeader(2)
        out.bulk("type")
        let isRange = command.numkeysAt == 0
        out.bulk(isRange ? "range" : "keynum")
        out.bulk("spec")
        out.mapHeader(3)
        out.bulk(isRange ? "lastkey" : "keynumidx")
        out.integer(isRange ? (command.lastKey < 0 ? -1 : command.lastKey - command.firstKey) : 0)
        out.bulk(isRange ? "keystep" : "firstkey")
        out.integer(isRange ? command.keyStep : 1)
        out.bulk(isRange ? "limit" : "keystep")
        out.integer(isRange ? 0 : 1)
    } else {
        out.arrayHeader(0)
    }
    out.arrayHeader(command.subcommands.count)
    for sub in command.subcommands { writeCommandInfo(sub, to: &out) }
}

/// One entry of COMMAND DOCS: summary, since, group, complexity and subcommands (what redis-cli reads).
func writeCommandDocs(_ command: Command, to out: inout ReplyBuffer) {
    out.mapHeader(command.subcommands.isEmpty ? 4 : 5)
    out.bulk("summary")
    out.bulk(command.summary)
    out.bulk("since")
    out.bulk(command.since)
    out.bulk("group")
    out.bulk(command.group)
    out.bulk("complexity")
    out.bulk(command.complexity)
    if !command.subcommands.isEmpty {
        out.bulk("subcommands")
        out.mapHeader(command.subcommands.count)
        for sub in command.subcommands {
            out.bulk(sub.fullName)
            writeCommandDocs(sub, to: &out)
        }
    }
}
