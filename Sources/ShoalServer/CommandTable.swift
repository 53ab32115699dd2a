import CShoalPosix
import RESP
import ShoalStore

/// Redis's command flags, as COMMAND reports them.
public struct CommandFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let write = CommandFlags(rawValue: 1 << 0)
    public static let readonly = CommandFlags(rawValue: 1 << 1)
    public static let denyOOM = CommandFlags(rawValue: 1 << 2)
    public static let admin = CommandFlags(rawValue: 1 << 3)
    public static let noscript = CommandFlags(rawValue: 1 << 4)
    public static let loading = CommandFlags(rawValue: 1 << 5)
    public static let stale = CommandFlags(rawValue: 1 << 6)
    public static let fast = CommandFlags(rawValue: 1 << 7)
    public static let noAuth = CommandFlags(rawValue: 1 << 8)
    /// Keys are found from a `numkeys` argument (SINTERCARD, and later ZUNIONSTORE, EVAL...).
    public static let movableKeys = CommandFlags(rawValue: 1 << 9)
    public static let pubsub = CommandFlags(rawValue: 1 << 10)

    static let names: [(CommandFlags, String)] = [
        (.write, "write"), (.readonly, "readonly"), (.denyOOM, "denyoom"), (.admin, "admin"),
        (.noscript, "noscript"), (.loading, "loading"), (.stale, "stale"), (.fast, "fast"), (.noAuth, "no_auth"),
        (.movableKeys, "movablekeys"), (.pubsub, "pubsub"),
    ]

    var names: [String] { Self.names.compactMap { contains($0.0) ? $0.1 : nil } }
}

/// What a handler is given: the server, the calling client's session, its arguments, the time, and the one
/// way to the keys (`store`: live, or pre-locked inside EXEC).
public struct CommandContext {
    public let server: ServerState
    public let client: ClientSession
    public let args: Arguments
    /// Wall-clock milliseconds when the batch of commands began; every expiry check in it uses this.
    public let now: Milliseconds
    /// Keys are reached through this only: it locks per call, or uses the shards a transaction holds.
    public let store: Store

    /// The client's reply buffer.
    public var out: ReplyBuffer {
        get { client.out }
        nonmutating _modify { yield &client.out }
    }

    public var database: Int { client.database }

    /// Records a key lookup's outcome for `keyspace_hits`/`keyspace_misses`.
    @inline(__always)
    public func noteLookup(hit: Bool) {
        if hit { bump(client.stats.keyspaceHits) } else { bump(client.stats.keyspaceMisses) }
    }

    /// Records changes to the dataset for the snapshot rules (`save <seconds> <changes>`).
    @inline(__always)
    public func noteDirty(_ changes: Int = 1) { if changes > 0 { bump(client.stats.dirty, by: changes) } }
}

public typealias CommandHandler = @Sendable (CommandContext) throws(CommandError) -> Void

/// One command as data: name, arity (negative = at least), flags, key positions, documentation, handler and
/// subcommands. Arity, authentication and subcommand lookup are checked once, by the dispatcher.
///
/// A class, not a struct: every dispatch passes one around, and a struct of this size (names, docs, a handler,
/// subcommands) is copied field by field with a retain for each (callgrind: 7% of a pipelined GET). The fields
/// that vary are set once, while the table is built, before any thread can see the command.
public final class Command: @unchecked Sendable {
    public let name: String
    public let arity: Int
    public let flags: CommandFlags
    public let firstKey: Int
    public let lastKey: Int
    public let keyStep: Int
    /// For commands whose keys follow a `numkeys` argument: its position (else 0).
    public let numkeysAt: Int
    public let group: String
    public let summary: String
    public let since: String
    public let complexity: String
    let handler: CommandHandler?
    // Set only while the table is built, before any thread can see the command, and read on every dispatch:
    // no dynamic exclusivity checks (callgrind: two per GET, about 300 instructions).
    @exclusivity(unchecked) public internal(set) var subcommands: [Command]
    /// `name`, or `parent|name` for a subcommand, as Redis names them in errors and commandstats.
    @exclusivity(unchecked) public internal(set) var fullName: String
    /// Index into the per-loop stats arrays.
    @exclusivity(unchecked) public internal(set) var statsIndex = 0
    /// It reaches more than its key arguments (whole databases, another database, SORT's patterns): see
    /// `TransactionPlan.reachesBeyondItsKeys`.
    @exclusivity(unchecked) internal(set) var reachesBeyondItsKeys = false

    public init(
        _ name: String, arity: Int, flags: CommandFlags = [], keys: (first: Int, last: Int, step: Int) = (0, 0, 0),
        numkeysAt: Int = 0, group: String, summary: String, since: String = "1.0.0", complexity: String = "O(1)",
        subcommands: [Command] = [], handler: CommandHandler? = nil
    ) {
        self.name = name
        self.arity = arity
        self.flags = numkeysAt > 0 ? flags.union(.movableKeys) : flags
        self.numkeysAt = numkeysAt
        firstKey = keys.first
        lastKey = keys.last
        keyStep = keys.step
        self.group = group
        self.summary = summary
        self.since = since
        self.complexity = complexity
        self.handler = handler
        self.subcommands = subcommands
        fullName = name
    }

    @inline(__always)
    func acceptsArgumentCount(_ count: Int) -> Bool {
        arity >= 0 ? count == arity : count >= -arity
    }
}

/// Command names packed into two words, lowercased, for an allocation-free lookup of argv[0].
struct CommandName: Hashable {
    let low: UInt64
    let high: UInt64
    /// Bytes 16-23: only GEORADIUSBYMEMBER_RO (20) is longer than 16.
    let extra: UInt64

    // Hashes the first 16 bytes only (every lookup hashes argv[0]; the rare longer names differ there too or
    // are told apart by ==).
    func hash(into hasher: inout Hasher) {
        hasher.combine(low)
        hasher.combine(high)
    }

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0, bytes.count <= 24 else { return nil }
        var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
        for index in 0..<bytes.count {
            var byte = bytes[index]
            if byte >= 65 && byte <= 90 { byte |= 0x20 }
            let shifted = UInt64(byte) << UInt64((index % 8) * 8)
            switch index / 8 {
            case 0: words.0 |= shifted
            case 1: words.1 |= shifted
            default: words.2 |= shifted
            }
        }
        low = words.0
        high = words.1
        extra = words.2
    }

    init?(_ text: String) {
        var text = text
        guard let name = text.withUTF8({ CommandName(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = name
    }
}

/// Command names to table positions: open addressing over a table four times the size of the command set, with a
/// multiply-shift hash of the packed name. Every request looks up argv[0]; Swift's Dictionary would SipHash the
/// 24 bytes each time (callgrind: 5% of a pipelined GET). The names are a fixed, known set, so no hostile input
/// can crowd a slot: an unknown name stops at the first empty slot.
struct CommandIndex: Sendable {
    private var names: [CommandName?]
    private var positions: [Int32]
    private let mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 4 { size <<= 1 }
        names = Array(repeating: nil, count: size)
        positions = Array(repeating: -1, count: size)
        mask = size - 1
    }

    @inline(__always)
    private func slot(_ name: CommandName) -> Int {
        let mixed = (name.low &* 0x9E37_79B9_7F4A_7C15) ^ (name.high &* 0xC2B2_AE3D_27D4_EB4F) ^ name.extra
        return Int(truncatingIfNeeded: mixed >> 40) & mask
    }

    mutating func insert(_ name: CommandName, _ position: Int) {
        var index = slot(name)
        while names[index] != nil { index = (index + 1) & mask }
        names[index] = name
        positions[index] = Int32(position)
    }

    @inline(__always)
    func position(of name: CommandName) -> Int? {
        var index = slot(name)
        while let stored = names[index] {
            if stored == name { return Int(positions[index]) }
            index = (index + 1) & mask
        }
        return nil
    }
}

/// All commands, looked up by name. Built once at start from the command files.
public final class CommandTable: Sendable {
    public let commands: [Command]
    private let index: CommandIndex
    /// Every command and subcommand by stats index, for commandstats.
    let flattened: [Command]

    init(_ definitions: [Command]) {
        var flattened: [Command] = []
        var commands: [Command] = []
        for command in definitions {
            command.statsIndex = flattened.count
            command.reachesBeyondItsKeys = TransactionPlan.reachesBeyondItsKeys.contains(command.name)
            flattened.append(command)
            for sub in command.subcommands {
                sub.fullName = "\(command.name)|\(sub.name)"
                sub.statsIndex = flattened.count
                sub.reachesBeyondItsKeys = TransactionPlan.reachesBeyondItsKeys.contains(sub.fullName)
                flattened.append(sub)
            }
            commands.append(command)
        }
        self.commands = commands
        self.flattened = flattened
        var index = CommandIndex(capacity: commands.count)
        for (position, command) in commands.enumerated() {
            guard let name = CommandName(command.name) else {
                preconditionFailure("command name too long: \(command.name)")
            }
            precondition(index.position(of: name) == nil, "duplicate command \(command.name)")
            index.insert(name, position)
        }
        self.index = index
    }

    @inline(__always)
    func lookup(_ name: UnsafeRawBufferPointer) -> Command? {
        guard let key = CommandName(name), let position = index.position(of: key) else { return nil }
        return commands[position]
    }

    public func command(named name: String) -> Command? {
        guard let key = CommandName(name), let position = index.position(of: key) else { return nil }
        return commands[position]
    }

    /// The standard table of every command Shoal serves, from the command files.
    public static let standard = CommandTable(
        connectionCommands + stringCommands + lcsCommands + bitmapCommands + hyperLogLogCommands + hashCommands + setCommands + listCommands + sortedSetCommands
            + geoCommands + sortCommands + keyCommands + dumpCommands + expireCommands + serverCommands + persistenceCommands
            + objectCommands + transactionCommands + pubsubCommands + slowlogCommands + latencyCommands + monitorCommands
            + scriptingCommands)
}

extension ServerState {
    /// Runs one command from a client, in the order Redis's `processCommand` checks things: look it up, check
    /// authentication and arity, evict or refuse over maxmemory, refuse writes after a failed save; then queue
    /// it (inside MULTI) or run it. A refusal inside MULTI also dooms the transaction (EXECABORT at EXEC).
    @inline(__always)
    func execute(_ client: ClientSession, _ args: Arguments, now: Milliseconds) {
        guard client.replyMode == .on else {
            executeWithoutReply(client, args, now: now)
            return
        }
        executeCommand(client, args, now: now)
    }

    /// CLIENT REPLY OFF or SKIP: the command runs, its reply is dropped (messages pushed to the client are not
    /// replies: they still arrive, as in Redis).
    private func executeWithoutReply(_ client: ClientSession, _ args: Arguments, now: Milliseconds) {
        let mode = client.replyMode
        let mark = client.out.count
        executeCommand(client, args, now: now)
        if client.replyMode == .on { return }  // it was CLIENT REPLY ON, whose OK is sent
        if client.out.count > mark { client.out.truncate(to: mark) }
        // SKIP drops one reply; a CLIENT REPLY run meanwhile decides for itself.
        if mode == .skip && client.replyMode == .skip { client.replyMode = .on }
    }

    private func executeCommand(_ client: ClientSession, _ args: Arguments, now: Milliseconds) {
        guard args.count > 0 else { return }
        bump(client.stats.commandsProcessed)
        // Look-up, authentication, subcommand and arity, inline: this runs for every command, and a Command is
        // too big a value to pass around through a Result (measured with callgrind: +9% instructions).
        guard var command = commands.lookup(args[0]) else {
            refuse(client, nil, unknownCommandError(args))
            return
        }
        if !client.authenticated && !command.flags.contains(.noAuth) {
            refuse(client, command, .noAuth)
            return
        }
        if !command.subcommands.isEmpty && args.count >= 2 {
            guard let sub = command.subcommands.first(where: { args.matchesLowercased(1, $0.name) }) else {
                refuse(client, command, .unknownSubcommand(args.string(1), of: command.name))
                return
            }
            command = sub
        }
        guard command.acceptsArgumentCount(args.count), command.handler != nil else {
            refuse(client, command, .wrongArity(command.fullName))
            return
        }
        if scripting.busyCount.load(ordering: .relaxed) > 0, let refusal = busyRefusal(command, client, args) {
            refuse(client, command, refusal)
            return
        }
        let queuing = client.transaction != nil && !command.runsInsideMulti
        // Over maxmemory: evict first (bounded work), and refuse commands that may grow memory if nothing can go.
        // Inside MULTI every queued command may grow memory (the queue itself does).
        if evictIfOverLimit(now: now, settings: client.settings.current) == .nothingEvictable
            && (queuing || command.flags.contains(.denyOOM))
        {
            refuse(client, command, .outOfMemory)
            return
        }
        // After a failed save, refuse writes (and PING, so monitoring notices) until a save succeeds, as Redis.
        if snapshots.writesBlocked.load(ordering: .relaxed)
            && (command.flags.contains(.write) || command.name == "ping")
        {
            refuse(client, command, CommandError.misconf)
            return
        }
        // A RESP2 connection in subscribed mode carries messages: only the subscription commands may run.
        if client.subscriptions != nil && client.protocolVersion == 2 && !allowedWhileSubscribed.contains(command.name) {
            refuse(client, command, .subscribedContext(command.fullName))
            return
        }
        if queuing, let transaction = client.transaction {
            transaction.queue.append(QueuedCommand(command, args))
            client.handle.queuedCommands.store(transaction.queue.count, ordering: .relaxed)
            client.handle.lastCommand.store(command.statsIndex, ordering: .relaxed)
            client.out.simple("QUEUED")
            return
        }
        invoke(command, client, args, now: now, store: Store(live: keyspace))
        // CLIENT CACHING applies to the next command (or the next transaction), as Redis's resetClient.
        if client.tracking?.caching == true && client.transaction == nil && !command.fullName.hasPrefix("client|") {
            client.tracking?.caching = false
        }
        client.runDeferredWork()
        if blocking.hasReady.load(ordering: .acquiring) { serveReadyKeys(now: now) }
    }

    /// Calls a resolved command's handler with `store` (live, or the shards an EXEC holds) and turns a thrown
    /// `CommandError` into the error reply: the only place a command error becomes bytes. Counts commandstats.
    @inline(__always)
    func invoke(_ command: Command, _ client: ClientSession, _ args: Arguments, now: Milliseconds, store: Store) {
        guard let handler = command.handler else { return }
        let stats = client.stats
        let started = monotonicNanoseconds()
        let mark = client.out.count
        let counters = stats.commands[command.statsIndex]
        client.handle.lastCommand.store(command.statsIndex, ordering: .relaxed)
        if tracking.isActive {
            cshoal_set_executing_client(client.id)
            if command.flags.contains(.readonly), client.tracking?.remembersKeys == true {
                rememberTrackedKeys(client, command, args)
            }
        }
        do {
            try handler(CommandContext(server: self, client: client, args: args, now: now, store: store))
        } catch {
            client.out.truncate(to: mark)
            client.out.error(error.text)
            stats.noteError(error)
            bump(counters.failed)
        }
        let nanoseconds = Int(monotonicNanoseconds() - started)
        bump(counters.calls)
        bump(counters.nanoseconds, by: nanoseconds)
        let settings = client.settings.current
        if settings.latencyTracking { counters.latency.record(nanoseconds: nanoseconds) }
        let elapsed = nanoseconds / 1000
        if monitors.isActive { feedMonitors(command, client, args) }
        if elapsed >= settings.slowlogThreshold { noteSlowCommand(command, client, args, microseconds: elapsed) }
        if elapsed >= 1000 {
            noteLatency(command.flags.contains(.fast) ? "fast-command" : "command", milliseconds: elapsed / 1000)
        }
    }

    /// Replies with a refusal; inside MULTI the transaction is doomed (Redis's `flagTransaction`).
    private func refuse(_ client: ClientSession, _ command: Command?, _ error: CommandError) {
        if let transaction = client.transaction, command.map({ !$0.runsInsideMulti }) ?? true {
            transaction.refused = true
        }
        reject(client, command, error)
    }

    private func reject(_ client: ClientSession, _ command: Command?, _ error: CommandError) {
        client.out.error(error.text)
        client.stats.noteError(error)
        if let command { bump(client.stats.commands[command.statsIndex].rejected) }
    }

    /// Redis's text: `unknown command 'foo', with args beginning with: 'a' 'b' `.
    private func unknownCommandError(_ args: Arguments) -> CommandError {
        var described = ""
        var index = 1
        while index < args.count && described.utf8.count < 128 {
            described += "'\(String(args.string(index).prefix(128 - described.utf8.count)))' "
            index += 1
        }
        return CommandError.unknownCommand(args.string(0), arguments: described)
    }
}

extension Arguments {
    /// Case-insensitive comparison with a lowercase name known at run time (subcommand lookup).
    func matchesLowercased(_ index: Int, _ name: String) -> Bool {
        let argument = self[index]
        var name = name
        return name.withUTF8 { text in
            guard argument.count == text.count else { return false }
            for offset in 0..<text.count where asciiLower(argument[offset]) != asciiLower(text[offset]) { return false }
            return true
        }
    }
}
