import RESP
import ShoalStore

// Connection commands (Redis's networking.c and acl.c parts that a default-user-only server needs).

/// Compares a password with the configured one in time that depends only on the lengths, never on where the
/// first difference is.
func passwordsMatch(_ given: UnsafeRawBufferPointer, _ expected: String) -> Bool {
    let expected = Array(expected.utf8)
    // The lengths at full width: folded into a byte, a password followed by 256 NULs would match.
    var difference = UInt(bitPattern: given.count ^ expected.count)
    let length = max(given.count, expected.count)
    for index in 0..<length {
        let a = index < given.count ? given[index] : 0
        let b = index < expected.count ? expected[index] : 0
        difference |= UInt(a ^ b)
    }
    return difference == 0
}

/// AUTH and HELLO's AUTH: only the `default` user exists; with no `requirepass` it accepts any password.
func authenticate(
    _ ctx: CommandContext, user: UnsafeRawBufferPointer?, password: UnsafeRawBufferPointer
) throws(CommandError) {
    let required = ctx.server.config.current.requirepass
    if let user, !user.elementsEqual("default".utf8) { throw .wrongPass }
    guard required.isEmpty || passwordsMatch(password, required) else {
        ctx.server.logger.info("Failed authentication attempt from \(ctx.client.handle.address)")
        throw .wrongPass
    }
    ctx.client.authenticated = true
}

/// Client names and library names: printable ASCII without spaces, as Redis requires.
func validateClientName(_ bytes: UnsafeRawBufferPointer, error: String) throws(CommandError) -> String {
    for byte in bytes where byte < UInt8(ascii: "!") || byte > UInt8(ascii: "~") { throw CommandError(error) }
    return String(decoding: bytes, as: UTF8.self)
}

let clientNameError = "ERR Client names cannot contain spaces, newlines or special characters."

// MARK: - Handlers, one per command

func pingCommand(_ ctx: CommandContext) throws(CommandError) {
    guard ctx.args.count <= 2 else { throw .wrongArity("ping") }
    if ctx.client.subscriptions != nil && ctx.client.protocolVersion == 2 {
        // Subscribed RESP2 connections carry arrays only: Redis answers [pong, <argument or empty>].
        ctx.out.arrayHeader(2)
        ctx.out.bulk("pong")
        if ctx.args.count == 2 { ctx.out.bulk(ctx.args[1]) } else { ctx.out.bulk("") }
    } else if ctx.args.count == 2 {
        ctx.out.bulk(ctx.args[1])
    } else {
        ctx.out.simple("PONG")
    }
}

func echoCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.bulk(ctx.args[1])
}

func quitCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.ok()
    ctx.client.closeAfterReply = true
}

func selectCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.client.database = try ctx.databaseIndex(1)
    ctx.out.ok()
}

func authCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    guard args.count <= 3 else { throw .syntax }
    if args.count == 2 && ctx.server.config.current.requirepass.isEmpty {
        throw CommandError(
            "ERR AUTH <password> called without any password configured for the default user. "
                + "Are you sure your configuration is correct?")
    }
    try authenticate(ctx, user: args.count == 3 ? args[1] : nil, password: args[args.count - 1])
    ctx.out.ok()
}

func helloCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    var version = ctx.client.protocolVersion
    if args.count >= 2 {
        guard let requested = parseInt64(args[1]) else {
            throw .protocolVersionNotInteger
        }
        guard requested == 2 || requested == 3 else { throw .noProto }
        version = Int(requested)
    }
    var name: String?
    var index = 2
    while index < args.count {
        let more = args.count - 1 - index
        if args.matches(index, "AUTH") && more >= 2 {
            try authenticate(ctx, user: args[index + 1], password: args[index + 2])
            index += 3
        } else if args.matches(index, "SETNAME") && more >= 1 {
            name = try validateClientName(args[index + 1], error: clientNameError)
            index += 2
        } else {
            throw .helloSyntax(args.string(index))
        }
    }
    guard ctx.client.authenticated else {
        throw CommandError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> "
                + "option can be used to authenticate the client and select the RESP protocol "
                + "version at the same time")
    }
    if let name { ctx.client.handle.names.withLock { $0.name = name } }
    ctx.client.protocolVersion = version
    ctx.out.mapHeader(7)
    ctx.out.bulk("server")
    ctx.out.bulk("redis")
    ctx.out.bulk("version")
    ctx.out.bulk(redisCompatibilityVersion)
    ctx.out.bulk("proto")
    ctx.out.integer(version)
    ctx.out.bulk("id")
    ctx.out.integer(ctx.client.id)
    ctx.out.bulk("mode")
    ctx.out.bulk("standalone")
    ctx.out.bulk("role")
    ctx.out.bulk("master")
    ctx.out.bulk("modules")
    ctx.out.arrayHeader(0)
}

func resetCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.server.discardTransaction(ctx.client)
    // As Redis's clearClientConnectionState: subscriptions, tracking and MONITOR end, and replies are on again.
    ctx.server.releaseSharedState(ctx.client)
    ctx.client.replyMode = .on
    ctx.client.database = 0
    ctx.client.protocolVersion = 2
    ctx.client.handle.names.withLock { $0.name = "" }
    ctx.client.authenticated = ctx.server.config.current.requirepass.isEmpty
    ctx.out.simple("RESET")
}

// MARK: - The table: data that points at the handlers

let connectionCommands: [Command] = [
    Command(
        "ping", arity: -1, flags: [.fast], group: "connection",
        summary: "Returns the server's liveliness response.",
        handler: pingCommand),
    Command(
        "echo", arity: 2, flags: [.fast, .loading, .stale], group: "connection", summary: "Returns the given string.",
        handler: echoCommand),
    Command(
        "quit", arity: -1, flags: [.fast, .noAuth, .loading, .stale, .noscript], group: "connection",
        summary: "Closes the connection.",
        handler: quitCommand),
    Command(
        "select", arity: 2, flags: [.fast, .loading, .stale], group: "connection",
        summary: "Changes the selected database.",
        handler: selectCommand),
    Command(
        "auth", arity: -2, flags: [.fast, .noAuth, .noscript, .loading, .stale], group: "connection",
        summary: "Authenticates the connection.",
        handler: authCommand),
    Command(
        "hello", arity: -1, flags: [.fast, .noAuth, .noscript, .loading, .stale], group: "connection",
        summary: "Handshakes with the Redis server.", since: "6.0.0",
        handler: helloCommand),
    Command(
        "reset", arity: 1, flags: [.fast, .noAuth, .noscript, .loading, .stale], group: "connection",
        summary: "Resets the connection.", since: "6.2.0",
        handler: resetCommand),
    Command(
        "client", arity: -2, flags: [], group: "connection", summary: "A container for client connection commands.",
        since: "2.4.0", subcommands: clientSubcommands),
]

// MARK: - Handlers, one per command

/// CLIENT REPLY ON|OFF|SKIP: ON answers OK; OFF and SKIP answer nothing (their own reply is dropped too).
func clientReplyCommand(_ ctx: CommandContext) throws(CommandError) {
    if ctx.args.matches(2, "on") {
        ctx.client.replyMode = .on
        ctx.out.ok()
    } else if ctx.args.matches(2, "off") {
        ctx.client.replyMode = .off
    } else if ctx.args.matches(2, "skip") {
        if ctx.client.replyMode != .off { ctx.client.replyMode = .skip }
    } else {
        throw .syntax
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]: clients' commands (ALL) or their writes and publishes (WRITE) wait until
/// the timeout or CLIENT UNPAUSE; a second pause can only make it longer or stricter, as Redis's pauseClients.
func clientPauseCommand(_ ctx: CommandContext) throws(CommandError) {
    guard let timeout = parseInt64(ctx.args[2]), timeout >= 0 else {
        throw CommandError("ERR timeout is not an integer or out of range")
    }
    var writesOnly = false
    if ctx.args.count == 4 {
        if ctx.args.matches(3, "write") {
            writesOnly = true
        } else if !ctx.args.matches(3, "all") {
            throw CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
        }
    } else if ctx.args.count > 4 {
        throw .syntax
    }
    let server = ctx.server
    let until = ctx.now &+ Milliseconds(timeout)
    let current = server.pausedUntil.load(ordering: .relaxed)
    let active = current > currentTimeMilliseconds()
    server.pauseWritesOnly.store(
        active ? server.pauseWritesOnly.load(ordering: .relaxed) && writesOnly : writesOnly, ordering: .relaxed)
    server.pausedUntil.store(max(until, active ? current : 0), ordering: .releasing)
    ctx.out.ok()
}

extension Command {
    /// What CLIENT PAUSE WRITE holds back: Redis's may-replicate commands, that is writes and publishes here.
    var waitsForWritePause: Bool { flags.contains(.write) || name == "publish" || name == "spublish" }
}

func clientUnpauseCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.server.pausedUntil.store(0, ordering: .releasing)
    for loop in 0..<ctx.server.ioThreads { ctx.server.lifecycle.wake(loop: loop) }
    ctx.out.ok()
}

/// CLIENT NO-EVICT ON|OFF: accepted; Shoal never evicts clients to make room (it has no maxmemory-clients).
func clientNoEvictCommand(_ ctx: CommandContext) throws(CommandError) {
    guard ctx.args.matches(2, "on") || ctx.args.matches(2, "off") else { throw .syntax }
    ctx.out.ok()
}

func clientIdCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.integer(ctx.client.id)
}

func clientSetnameCommand(_ ctx: CommandContext) throws(CommandError) {
    let name = try validateClientName(ctx.args[2], error: clientNameError)
    ctx.client.handle.names.withLock { $0.name = name }
    ctx.out.ok()
}

func clientGetnameCommand(_ ctx: CommandContext) throws(CommandError) {
    let name = ctx.client.handle.name
    if name.isEmpty { ctx.out.null() } else { ctx.out.bulk(name) }
}

func clientSetinfoCommand(_ ctx: CommandContext) throws(CommandError) {
    let isName = ctx.args.matches(2, "LIB-NAME")
    guard isName || ctx.args.matches(2, "LIB-VER") else {
        throw .unrecognizedOption(ctx.args.string(2))
    }
    let value = try validateClientName(
        ctx.args[3],
        error: "ERR \(isName ? "lib-name" : "lib-ver") cannot contain spaces, newlines or special characters.")
    ctx.client.handle.names.withLock { if isName { $0.libName = value } else { $0.libVersion = value } }
    ctx.out.ok()
}

func clientListCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    var ids: Set<Int>?
    var type: String?
    var index = 2
    while index < args.count {
        if args.matches(index, "TYPE"), index + 1 < args.count {
            type = try clientType(args, index + 1)
            index += 2
        } else if args.matches(index, "ID"), index + 1 < args.count {
            var wanted = ids ?? []
            index += 1
            while index < args.count {
                guard let id = parseInt64(args[index]), id > 0 else { throw .invalidClientID }
                wanted.insert(Int(id))
                index += 1
            }
            ids = wanted
        } else {
            throw .syntax
        }
    }
    let lines = ctx.server.clients.all.filter { (ids?.contains($0.id) ?? true) && $0.isOfType(type) }
        .map { ctx.server.describeClient($0, now: ctx.now) }
    ctx.out.verbatim(lines.joined())
}

/// CLIENT LIST / KILL's TYPE argument, lowercased; Redis's error for an unknown one.
private func clientType(_ args: Arguments, _ index: Int) throws(CommandError) -> String {
    let type = args.lowercased(index)
    guard ["normal", "master", "replica", "slave", "pubsub"].contains(type) else {
        throw .unknownClientType(args.string(index))
    }
    return type
}

extension ClientHandle {
    /// Redis's getClientType: a subscribed client (RESP3 too) is pubsub, every other one normal (no replicas).
    var isPubSub: Bool {
        channelCount.load(ordering: .relaxed) + patternCount.load(ordering: .relaxed)
            + shardChannelCount.load(ordering: .relaxed) > 0
    }

    func isOfType(_ type: String?) -> Bool {
        switch type {
        case nil: return true
        case "normal": return !isPubSub
        case "pubsub": return isPubSub
        default: return false
        }
    }
}

func clientInfoCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.verbatim(ctx.server.describeClient(ctx.client.handle, now: ctx.now))
}

func clientKillCommand(_ ctx: CommandContext) throws(CommandError) {
    try killClients(ctx)
}

func clientHelpCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.bulkArray([
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME", "    Return the name of the current connection.",
        "ID", "    Return the ID of the current connection.",
        "INFO", "    Return information about the current client connection.",
        "KILL <ip:port>", "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are: ID <client-id>, ADDR <ip:port>, LADDR <ip:port>, USER <username>,",
        "    TYPE normal, SKIPME (YES|NO).",
        "LIST [options ...]", "    Return information about client connections. Options: TYPE normal, ID <id> [...].",
        "SETINFO <option> <value>", "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
        "SETNAME <name>", "    Assign the name <name> to the current connection.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]",
        "    Control server assisted client side caching.",
        "TRACKINGINFO", "    Report tracking status for the current connection.",
        "CACHING (YES|NO)",
        "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        "GETREDIR", "    Return the client ID we are redirecting to when tracking is enabled.",
        "HELP", "    Print this help.",
    ])
}

// MARK: - The table: data that points at the handlers

let clientSubcommands: [Command] = [
    Command(
        "id", arity: 2, flags: [.noscript, .loading, .stale], group: "connection",
        summary: "Returns the unique client ID of the connection.", since: "5.0.0",
        handler: clientIdCommand),
    Command(
        "setname", arity: 3, flags: [.noscript, .loading, .stale], group: "connection",
        summary: "Sets the connection name.", since: "2.6.9",
        handler: clientSetnameCommand),
    Command(
        "getname", arity: 2, flags: [.noscript, .loading, .stale], group: "connection",
        summary: "Returns the name of the connection.", since: "2.6.9",
        handler: clientGetnameCommand),
    Command(
        "setinfo", arity: 4, flags: [.noscript, .loading, .stale], group: "connection",
        summary: "Sets information specific to the client or connection.", since: "7.2.0",
        handler: clientSetinfoCommand),
    Command(
        "list", arity: -2, flags: [.admin, .noscript, .loading, .stale], group: "connection",
        summary: "Lists open connections.", since: "2.4.0", complexity: "O(N)",
        handler: clientListCommand),
    Command(
        "info", arity: 2, flags: [.noscript, .loading, .stale], group: "connection",
        summary: "Returns information about the connection.", since: "6.2.0",
        handler: clientInfoCommand),
    Command(
        "kill", arity: -3, flags: [.admin, .noscript, .loading, .stale], group: "connection",
        summary: "Terminates open connections.", since: "2.4.0", complexity: "O(N)",
        handler: clientKillCommand),
    Command(
        "unblock", arity: -3, flags: [.admin, .noscript, .loading, .stale], group: "connection",
        summary: "Unblocks a client blocked by a blocking command from a different connection.", since: "5.0.0",
        complexity: "O(log N)", handler: clientUnblockCommand),
    Command(
        "help", arity: 2, flags: [.loading, .stale], group: "connection",
        summary: "Returns helpful text about the different subcommands.", since: "5.0.0",
        handler: clientHelpCommand),
    Command(
        "reply", arity: 3, flags: [.noscript, .loading, .stale], group: "connection",
        summary: "Instructs the server whether to reply to commands.", since: "3.2.0", handler: clientReplyCommand),
    Command(
        "pause", arity: -3, flags: [.admin, .noscript, .loading, .stale], group: "connection",
        summary: "Suspends commands processing.", since: "3.0.0", handler: clientPauseCommand),
    Command(
        "unpause", arity: 2, flags: [.admin, .noscript, .loading, .stale], group: "connection",
        summary: "Resumes processing commands from paused clients.", since: "6.2.0", handler: clientUnpauseCommand),
    Command(
        "no-evict", arity: 3, flags: [.admin, .noscript, .loading, .stale], group: "connection",
        summary: "Sets the client eviction mode of the connection.", since: "7.0.0", handler: clientNoEvictCommand),
] + trackingSubcommands

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: the client gets its timeout reply, or the UNBLOCKED error, from its own
/// loop (through the mailbox); 1 when it was blocked and nobody served it first.
func clientUnblockCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let id = try args.integer(2)
    var error = false
    if args.count == 4 {
        if args.matches(3, "ERROR") {
            error = true
        } else if !args.matches(3, "TIMEOUT") {
            throw CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        }
    } else if args.count > 4 {
        throw .syntax
    }
    guard let waiter = ctx.server.blocking.client(Int(truncatingIfNeeded: id)), waiter.claim(BlockedClient.cancelled)
    else {
        ctx.out.integer(0)
        return
    }
    var reply = ReplyBuffer(protocolVersion: waiter.protocolVersion)
    if error {
        reply.error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    } else {
        waiter.request.replyNothing(to: &reply, timedOut: true)
    }
    ctx.server.deliver(waiter, reply.bytes)
    ctx.out.integer(1)
}

/// CLIENT KILL in both forms: `CLIENT KILL ip:port` (replies OK or an error) and the filter form
/// (`ID`, `ADDR`, `LADDR`, `USER`, `TYPE`, `SKIPME`), which replies with the number of clients killed.
func killClients(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    var id: Int?
    var address: String?
    var localAddress: String?
    var skipMe = true
    var matchNone = false
    var type: String?
    let oldForm = args.count == 3
    if oldForm {
        address = args.string(2)
        skipMe = false
    } else {
        var index = 2
        while index < args.count {
            guard index + 1 < args.count else { throw .syntax }
            if args.matches(index, "ID") {
                guard let value = parseInt64(args[index + 1]), value > 0 else {
                    throw .clientIDNotPositive
                }
                id = Int(value)
            } else if args.matches(index, "ADDR") {
                address = args.string(index + 1)
            } else if args.matches(index, "LADDR") {
                localAddress = args.string(index + 1)
            } else if args.matches(index, "USER") {
                if args.string(index + 1) != "default" { matchNone = true }
            } else if args.matches(index, "TYPE") {
                type = try clientType(args, index + 1)
            } else if args.matches(index, "SKIPME") {
                if args.matches(index + 1, "YES") {
                    skipMe = true
                } else if args.matches(index + 1, "NO") {
                    skipMe = false
                } else {
                    throw .syntax
                }
            } else {
                throw .syntax
            }
            index += 2
        }
    }
    var killed = 0
    if !matchNone {
        for handle in ctx.server.clients.all {
            if let id, handle.id != id { continue }
            if !handle.isOfType(type) { continue }
            if let address, handle.address != address { continue }
            if let localAddress, handle.localAddress != localAddress { continue }
            if handle.id == ctx.client.id {
                if skipMe { continue }
                ctx.client.closeAfterReply = true
            } else {
                handle.killRequested.store(true, ordering: .relaxed)
                ctx.server.lifecycle.wake(loop: handle.loopIndex)
            }
            killed += 1
        }
    }
    if oldForm {
        guard killed > 0 else { throw .noSuchClient }
        ctx.out.ok()
    } else {
        ctx.out.integer(killed)
    }
}
