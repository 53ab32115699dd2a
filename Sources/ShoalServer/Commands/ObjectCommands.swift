import CShoalPosix
import RESP
import ShoalStore

// OBJECT and MEMORY (Redis's object.c): introspection of one key, without counting as an access.

/// Looks `key` up without touching its access statistics and hands `body` the table and index, or replies
/// nil for a missing key (as Redis's `objectCommandLookupOrReply`).
private func inspect(
    _ ctx: CommandContext, _ body: (TableReader, Int) throws(CommandError) -> Void
) throws(CommandError) {
    let key = ctx.args.key(2)
    try ctx.store.read(ctx.database, key) { table throws(CommandError) in
        guard let index = table.peek(key, now: ctx.now) else {
            ctx.out.null()
            return
        }
        try body(table, index)
    }
}

let policyNote =
    "Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."

// MARK: - Handlers

func objectEncodingCommand(_ ctx: CommandContext) throws(CommandError) {
    try inspect(ctx) { table, index throws(CommandError) in
        if let name = table.collectionEncoding(at: index) {
            ctx.out.bulk(name)
            return
        }
        let bytes = try table.withString(at: index) { Array($0) }
        // Redis's string encodings: integers that fit a long are "int", short strings "embstr".
        if bytes.count <= 20, parseInt64(bytes) != nil {
            ctx.out.bulk("int")
        } else if bytes.count <= 44 {
            ctx.out.bulk("embstr")
        } else {
            ctx.out.bulk("raw")
        }
    }
}

func objectRefcountCommand(_ ctx: CommandContext) throws(CommandError) {
    try inspect(ctx) { table, index throws(CommandError) in
        // Redis shares the integers 0-9999 and reports them with INT_MAX references.
        guard table.isString(at: index) else {
            ctx.out.integer(1)
            return
        }
        let bytes = try table.withString(at: index) { Array($0) }
        if let value = parseInt64(bytes), value >= 0, value < 10000 {
            ctx.out.integer(Int64(Int32.max))
        } else {
            ctx.out.integer(1)
        }
    }
}

func objectIdletimeCommand(_ ctx: CommandContext) throws(CommandError) {
    guard ctx.store.keyspace.accessPolicy.tracking == .lru else {
        throw .lfuSelected(policyNote)
    }
    try inspect(ctx) { table, index throws(CommandError) in
        ctx.out.integer(ctx.server.idleSeconds(table.accessSlot(at: index), now: ctx.now))
    }
}

func objectFreqCommand(_ ctx: CommandContext) throws(CommandError) {
    guard ctx.store.keyspace.accessPolicy.tracking == .lfu else {
        throw .lfuNotSelected(policyNote)
    }
    try inspect(ctx) { table, index throws(CommandError) in
        ctx.out.integer(ctx.server.lfuCounter(table.accessSlot(at: index), now: ctx.now))
    }
}

func objectHelpCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.bulkArray([
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>", "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>", "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recorded access frequency of the key.",
        "IDLETIME <key>", "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>", "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP", "    Print this help.",
    ])
}

func memoryUsageCommand(_ ctx: CommandContext) throws(CommandError) {
    if ctx.args.count > 3 {
        guard ctx.args.count == 5, ctx.args.matches(3, "SAMPLES") else { throw .syntax }
        _ = try ctx.args.integer(4)
    }
    try inspect(ctx) { table, index throws(CommandError) in ctx.out.integer(table.memoryUsage(at: index)) }
}

func memoryPurgeCommand(_ ctx: CommandContext) throws(CommandError) {
    cshoal_malloc_trim()
    ctx.out.ok()
}

func memoryHelpCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.bulkArray([
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "PURGE", "    Attempt to purge dirty pages for reclamation by the allocator.",
        "USAGE <key> [SAMPLES <count>]", "    Return memory in bytes used by <key> and its value.",
        "HELP", "    Print this help.",
    ])
}

// MARK: - The table

let objectCommands: [Command] = [
    Command(
        "object", arity: -2, group: "generic", summary: "A container for object introspection commands.",
        since: "2.2.3",
        subcommands: [
            Command(
                "encoding", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic",
                summary: "Returns the internal encoding of a Redis object.", since: "2.2.3",
                handler: objectEncodingCommand),
            Command(
                "refcount", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic",
                summary: "Returns the reference count of a value of a key.", since: "2.2.3",
                handler: objectRefcountCommand),
            Command(
                "idletime", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic",
                summary: "Returns the time since the last access to a Redis object.", since: "2.2.3",
                handler: objectIdletimeCommand),
            Command(
                "freq", arity: 3, flags: [.readonly], keys: (2, 2, 1), group: "generic",
                summary: "Returns the logarithmic access frequency counter of a Redis object.", since: "4.0.0",
                handler: objectFreqCommand),
            Command(
                "help", arity: 2, flags: [.loading, .stale], group: "generic",
                summary: "Returns helpful text about the different subcommands.", since: "6.2.0",
                handler: objectHelpCommand),
        ]),
    Command(
        "memory", arity: -2, group: "server", summary: "A container for memory diagnostics commands.",
        since: "4.0.0",
        subcommands: [
            Command(
                "usage", arity: -3, flags: [.readonly], keys: (2, 2, 1), group: "server",
                summary: "Estimates the memory usage of a key.", since: "4.0.0", handler: memoryUsageCommand),
            Command(
                "purge", arity: 2, group: "server", summary: "Asks the allocator to release memory.", since: "4.0.0",
                handler: memoryPurgeCommand),
            Command(
                "help", arity: 2, flags: [.loading, .stale], group: "server",
                summary: "Returns helpful text about the different subcommands.", since: "4.0.0",
                handler: memoryHelpCommand),
        ]),
]

extension ServerState {
    func idleSeconds(_ slot: UInt64, now: Milliseconds) -> Int64 {
        AccessStatistics.idleMilliseconds(slot, now: now) / 1000
    }

    func lfuCounter(_ slot: UInt64, now: Milliseconds) -> Int64 {
        Int64(AccessStatistics.decayedCounter(slot, now: now, settings: keyspace.accessPolicy.lfu))
    }
}
