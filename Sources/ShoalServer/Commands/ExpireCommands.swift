import RESP
import ShoalStore

// Expiry commands (Redis's expire.c). Deadlines are absolute wall-clock milliseconds.

/// The one implementation behind EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT (Redis's `expireGenericCommand`),
/// with the NX, XX, GT and LT conditions. A deadline already past deletes the key.
func expireGeneric(_ ctx: CommandContext, seconds: Bool, relative: Bool) throws(CommandError) {
    let args = ctx.args
    let name = args.lowercased(0)
    let amount = try args.integer(2)
    var nx = false
    var xx = false
    var gt = false
    var lt = false
    for index in 3..<max(3, args.count) {
        if args.matches(index, "NX") {
            nx = true
        } else if args.matches(index, "XX") {
            xx = true
        } else if args.matches(index, "GT") {
            gt = true
        } else if args.matches(index, "LT") {
            lt = true
        } else {
            throw .unsupportedOption(args.string(index))
        }
    }
    if nx && (xx || gt || lt) { throw .nxWithOtherConditions }
    if gt && lt { throw .gtAndLt }
    // Zero or negative is allowed here: a deadline already past deletes the key.
    let deadline = try deadline(amount, seconds: seconds, relative: relative, now: ctx.now, command: name)
    let key = args.key(1)
    let changed = ctx.store.write(ctx.database, key) { table -> Bool in
        guard let index = table.lookupForWrite(key, now: ctx.now) else { return false }
        let current = table.expiresAt(at: index)  // 0: no deadline, i.e. infinitely far
        if nx && current != 0 { return false }
        if xx && current == 0 { return false }
        if gt && (current == 0 || deadline <= current) { return false }
        if lt && current != 0 && deadline >= current { return false }
        if deadline <= ctx.now {
            table.remove(at: index)
            ctx.notify(.generic, "del", key)
        } else {
            table.setExpiry(at: index, deadline)
            ctx.notify(.generic, "expire", key)
        }
        return true
    }
    if changed { ctx.noteDirty() }
    ctx.out.integer(changed ? 1 : 0)
}

/// TTL, PTTL, EXPIRETIME and PEXPIRETIME: -2 for a missing key, -1 for a key without a deadline.
func reportExpiry(_ ctx: CommandContext, _ transform: (_ deadline: Milliseconds) -> Int64) {
    let key = ctx.args.key(1)
    let reply: Int64 = ctx.store.read(ctx.database, key) { table in
        guard let index = table.peek(key, now: ctx.now) else {
            ctx.notify(.keyMiss, "keymiss", key)
            return -2
        }
        let deadline = table.expiresAt(at: index)
        return deadline == 0 ? -1 : transform(deadline)
    }
    ctx.out.integer(reply)
}

// MARK: - Handlers, one per command

func expireCommand(_ ctx: CommandContext) throws(CommandError) {
    try expireGeneric(ctx, seconds: true, relative: true)
}

func pexpireCommand(_ ctx: CommandContext) throws(CommandError) {
    try expireGeneric(ctx, seconds: false, relative: true)
}

func expireatCommand(_ ctx: CommandContext) throws(CommandError) {
    try expireGeneric(ctx, seconds: true, relative: false)
}

func pexpireatCommand(_ ctx: CommandContext) throws(CommandError) {
    try expireGeneric(ctx, seconds: false, relative: false)
}

func ttlCommand(_ ctx: CommandContext) throws(CommandError) {
    reportExpiry(ctx) { (max(0, $0 - ctx.now) + 500) / 1000 }
}

func pttlCommand(_ ctx: CommandContext) throws(CommandError) {
    reportExpiry(ctx) { max(0, $0 - ctx.now) }
}

func expiretimeCommand(_ ctx: CommandContext) throws(CommandError) {
    reportExpiry(ctx) { $0 / 1000 }
}

func pexpiretimeCommand(_ ctx: CommandContext) throws(CommandError) {
    reportExpiry(ctx) { $0 }
}

func persistCommand(_ ctx: CommandContext) throws(CommandError) {
    let key = ctx.args.key(1)
    let changed = ctx.store.write(ctx.database, key) { table -> Bool in
        guard let index = table.lookupForWrite(key, now: ctx.now), table.expiresAt(at: index) != 0 else { return false }
        table.setExpiry(at: index, 0)
        ctx.notify(.generic, "persist", key)
        return true
    }
    if changed { ctx.noteDirty() }
    ctx.out.integer(changed ? 1 : 0)
}

// MARK: - The table: data that points at the handlers

let expireCommands: [Command] = [
    Command(
        "expire", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
        summary: "Sets the expiration time of a key in seconds.",
        handler: expireCommand),
    Command(
        "pexpire", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
        summary: "Sets the expiration time of a key in milliseconds.", since: "2.6.0",
        handler: pexpireCommand),
    Command(
        "expireat", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
        summary: "Sets the expiration time of a key to a Unix timestamp.", since: "1.2.0",
        handler: expireatCommand),
    Command(
        "pexpireat", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
        summary: "Sets the expiration time of a key to a Unix milliseconds timestamp.", since: "2.6.0",
        handler: pexpireatCommand),
    Command(
        "ttl", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
        summary: "Returns the expiration time in seconds of a key.",
        handler: ttlCommand),
    Command(
        "pttl", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
        summary: "Returns the expiration time in milliseconds of a key.", since: "2.6.0",
        handler: pttlCommand),
    Command(
        "expiretime", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
        summary: "Returns the expiration time of a key as a Unix timestamp.", since: "7.0.0",
        handler: expiretimeCommand),
    Command(
        "pexpiretime", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
        summary: "Returns the expiration time of a key as a Unix milliseconds timestamp.", since: "7.0.0",
        handler: pexpiretimeCommand),
    Command(
        "persist", arity: 2, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
        summary: "Removes the expiration time of a key.", since: "2.2.0",
        handler: persistCommand),
]
