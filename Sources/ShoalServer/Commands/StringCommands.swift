import RESP
import ShoalStore

// The string commands (Redis's t_string.c). Each read-modify-write runs inside one `store.write` closure,
// that is under one shard write lock, so INCR, APPEND, SETNX, GETSET and friends are atomic.

/// SET's options as parsed by `parseSetOptions`.
struct SetOptions {
    enum Condition { case always, ifAbsent, ifPresent }
    var condition = Condition.always
    var returnOld = false
    var expiry = ExpiryArgument.none
}

/// Parses `[NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms|KEEPTTL]` from `start` on, as Redis's
/// `parseExtendedStringArgumentsOrReply`: conflicting or unknown options are a syntax error.
func parseSetOptions(_ ctx: CommandContext, from start: Int) throws(CommandError) -> SetOptions {
    var options = SetOptions()
    var hasExpiry = false
    var keepTTL = false
    var index = start
    let args = ctx.args
    while index < args.count {
        let hasNext = index + 1 < args.count
        if args.matches(index, "NX"), options.condition != .ifPresent {
            options.condition = .ifAbsent
        } else if args.matches(index, "XX"), options.condition != .ifAbsent {
            options.condition = .ifPresent
        } else if args.matches(index, "GET") {
            options.returnOld = true
        } else if args.matches(index, "KEEPTTL"), !hasExpiry {
            keepTTL = true
            options.expiry = .keepTTL
        } else if hasNext, !keepTTL, !hasExpiry, let deadline = try ctx.expiryOption(at: index, command: "set") {
            hasExpiry = true
            options.expiry = .at(deadline)
            index += 1
        } else {
            throw .syntax
        }
        index += 1
    }
    return options
}

/// The one implementation behind SET, SETNX, SETEX, PSETEX and GETSET (Redis's `setGenericCommand`).
/// Returns whether the value was stored; with `returnOld` it replies with the previous value itself.
@discardableResult
func setGeneric(_ ctx: CommandContext, keyIndex: Int, valueIndex: Int, options: SetOptions) throws(CommandError) -> Bool
{
    let key = ctx.args.key(keyIndex)
    let value = ctx.args[valueIndex]
    let stored = try ctx.store.write(ctx.database, key) { table throws(CommandError) -> Bool in
        let existing = table.lookupForWrite(key, now: ctx.now)
        if options.returnOld {
            if let existing {
                try ctx.replyString(table, existing)
            } else {
                ctx.notify(.keyMiss, "keymiss", key)
                ctx.out.null()
            }
        }
        switch options.condition {
        case .ifAbsent where existing != nil, .ifPresent where existing == nil:
            return false
        default:
            break
        }
        let deadline: Milliseconds
        switch options.expiry {
        case .keepTTL: deadline = existing.map { table.expiresAt(at: $0) } ?? 0
        case .at(let at): deadline = at
        case .none, .persist: deadline = 0
        }
        if let existing {
            table.setString(at: existing, value)
            table.setExpiry(at: existing, deadline)
        } else {
            table.insert(key, string: value, expiresAt: deadline, now: ctx.now)
        }
        return true
    }
    if stored {
        ctx.noteDirty()
        ctx.notify(.string, "set", keyAt: keyIndex)
        if case .at = options.expiry { ctx.notify(.generic, "expire", keyAt: keyIndex) }
    }
    return stored
}

/// INCR, DECR, INCRBY and DECRBY (Redis's `incrDecrCommand`).
func incrementBy(_ ctx: CommandContext, _ increment: Int64) throws(CommandError) {
    let key = ctx.args.key(1)
    let result = try ctx.store.write(ctx.database, key) { table throws(CommandError) -> Int64 in
        let existing = table.lookupForWrite(key, now: ctx.now)
        var current: Int64 = 0
        if let existing {
            guard let value = try table.withString(at: existing, { parseInt64($0) }) else { throw .notInteger }
            current = value
        }
        let (sum, overflow) = current.addingReportingOverflow(increment)
        if overflow { throw .overflow }
        withDecimalBytes(sum) { text in table.putString(text, at: existing, key: key, now: ctx.now) }
        return sum
    }
    ctx.noteDirty()
    ctx.notify(.string, "incrby", keyAt: 1)
    ctx.out.integer(result)
}

// MARK: - Handlers, one per command (Redis's getCommand, setCommand...)

func getCommand(_ ctx: CommandContext) throws(CommandError) {
    let key = ctx.args.key(1)
    try ctx.store.read(ctx.database, key) { table throws(CommandError) in
        try ctx.replyLookup(table, table.lookup(key, now: ctx.now))
    }
}

func setCommand(_ ctx: CommandContext) throws(CommandError) {
    let options = try parseSetOptions(ctx, from: 3)
    let stored = try setGeneric(ctx, keyIndex: 1, valueIndex: 2, options: options)
    if !options.returnOld {
        if stored { ctx.out.ok() } else { ctx.out.null() }
    }
}

func setnxCommand(_ ctx: CommandContext) throws(CommandError) {
    var options = SetOptions()
    options.condition = .ifAbsent
    ctx.out.integer(try setGeneric(ctx, keyIndex: 1, valueIndex: 2, options: options) ? 1 : 0)
}

func setexCommand(_ ctx: CommandContext) throws(CommandError) { try setWithTimeout(ctx, seconds: true) }

func psetexCommand(_ ctx: CommandContext) throws(CommandError) { try setWithTimeout(ctx, seconds: false) }

/// SETEX and PSETEX: `key timeout value`, the timeout in seconds or milliseconds.
private func setWithTimeout(_ ctx: CommandContext, seconds: Bool) throws(CommandError) {
    var options = SetOptions()
    let name = seconds ? "setex" : "psetex"
    options.expiry = .at(
        try absoluteDeadline(try ctx.args.integer(2), seconds: seconds, relative: true, now: ctx.now, command: name))
    try setGeneric(ctx, keyIndex: 1, valueIndex: 3, options: options)
    ctx.out.ok()
}

func getsetCommand(_ ctx: CommandContext) throws(CommandError) {
    var options = SetOptions()
    options.returnOld = true
    try setGeneric(ctx, keyIndex: 1, valueIndex: 2, options: options)
}

func getdelCommand(_ ctx: CommandContext) throws(CommandError) {
    let key = ctx.args.key(1)
    let removed = try ctx.store.write(ctx.database, key) { table throws(CommandError) -> Bool in
        let index = table.lookupForWrite(key, now: ctx.now)
        guard try ctx.replyLookup(table, index), let index else { return false }
        table.remove(at: index)
        return true
    }
    if removed {
        ctx.noteDirty()
        ctx.notify(.generic, "del", keyAt: 1)
    }
}

/// GETEX checks its options' syntax first, then looks the key up, and only then the expire time's value, as
/// Redis's getexCommand: `GETEX missing EX 0` is nil, not "invalid expire time".
func getexCommand(_ ctx: CommandContext) throws(CommandError) {
    var persist = false
    var expiryIndex: Int?
    let args = ctx.args
    var index = 2
    while index < args.count {
        let hasNext = index + 1 < args.count
        if !persist, expiryIndex == nil, args.matches(index, "PERSIST") {
            persist = true
        } else if !persist, expiryIndex == nil, hasNext, ctx.isExpiryOption(at: index) {
            expiryIndex = index
            index += 1
        } else {
            throw .syntax
        }
        index += 1
    }
    let key = args.key(1)
    try ctx.store.write(ctx.database, key) { table throws(CommandError) in
        let index = table.lookupForWrite(key, now: ctx.now)
        guard let found = index else {
            try ctx.replyLookup(table, nil)
            return
        }
        guard table.isString(at: found) else { throw .wrongType }
        var expiry = persist ? ExpiryArgument.persist : .none
        if let expiryIndex, let deadline = try ctx.expiryOption(at: expiryIndex, command: "getex") {
            expiry = .at(deadline)
        }
        try ctx.replyLookup(table, found)
        switch expiry {
        case .at(let deadline) where deadline <= ctx.now:
            table.remove(at: found)
            ctx.noteDirty()
            ctx.notify(.generic, "del", keyAt: 1)
        case .at(let deadline):
            table.setExpiry(at: found, deadline)
            ctx.noteDirty()
            ctx.notify(.generic, "expire", keyAt: 1)
        case .persist:
            if table.expiresAt(at: found) != 0 {
                table.setExpiry(at: found, 0)
                ctx.noteDirty()
                ctx.notify(.generic, "persist", keyAt: 1)
            }
        case .none, .keepTTL:
            break
        }
    }
}

func mgetCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let keys = (1..<args.count).map { args.key($0) }
    // All shards read-locked together: an MSET is seen entirely or not at all.
    ctx.store.withKeys(database: ctx.database, hashes: keys.map(\.hash), exclusive: false) { group in
        ctx.out.arrayHeader(keys.count)
        for key in keys {
            group.readTable(database: ctx.database, hash: key.hash) { table in
                if let index = table.lookup(key, now: ctx.now), table.isString(at: index) {
                    ctx.noteLookup(hit: true)
                    table.withStringBytes(at: index) { ctx.out.bulk($0) }
                } else {
                    ctx.noteLookup(hit: false)
                    if table.peek(key, now: ctx.now) == nil { ctx.notify(.keyMiss, "keymiss", key) }
                    ctx.out.null()
                }
            }
        }
    }
}

func msetCommand(_ ctx: CommandContext) throws(CommandError) {
    try msetGeneric(ctx, onlyIfAllAbsent: false)
    ctx.out.ok()
}

func msetnxCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.integer(try msetGeneric(ctx, onlyIfAllAbsent: true) ? 1 : 0)
}

func appendCommand(_ ctx: CommandContext) throws(CommandError) {
    let key = ctx.args.key(1)
    let suffix = ctx.args[2]
    let limit = ctx.maxBulkLength
    let length = try ctx.store.write(ctx.database, key) { table throws(CommandError) -> Int in
        guard let index = table.lookupForWrite(key, now: ctx.now) else {
            table.insert(key, string: suffix, now: ctx.now)
            return suffix.count
        }
        let current = try table.stringLength(at: index)
        guard current + suffix.count <= limit else { throw .stringTooLong }
        return table.modifyString(at: index) { bytes in bytes.append(contentsOf: suffix) }
    }
    ctx.noteDirty()
    ctx.notify(.string, "append", keyAt: 1)
    ctx.out.integer(length)
}

func strlenCommand(_ ctx: CommandContext) throws(CommandError) {
    let key = ctx.args.key(1)
    let length = try ctx.store.read(ctx.database, key) { table throws(CommandError) -> Int in
        guard let index = table.lookup(key, now: ctx.now) else {
            ctx.notify(.keyMiss, "keymiss", key)
            return 0
        }
        return try table.stringLength(at: index)
    }
    ctx.out.integer(length)
}

func incrCommand(_ ctx: CommandContext) throws(CommandError) {
    try incrementBy(ctx, 1)
}

func decrCommand(_ ctx: CommandContext) throws(CommandError) {
    try incrementBy(ctx, -1)
}

func incrbyCommand(_ ctx: CommandContext) throws(CommandError) {
    try incrementBy(ctx, try ctx.args.integer(2))
}

func decrbyCommand(_ ctx: CommandContext) throws(CommandError) {
    let amount = try ctx.args.integer(2)
    guard amount != Int64.min else { throw .decrementOverflow }
    try incrementBy(ctx, -amount)
}

/// INCRBYFLOAT computes in long double and formats as Redis's ld2string(LD_STR_HUMAN), so the stored text is
/// the same bytes redis-server would store (a Double would print -9223372036854775808 as -9.223372036854776e+18).
func incrbyfloatCommand(_ ctx: CommandContext) throws(CommandError) {
    guard let increment = parseLongDouble(ctx.args[2]) else { throw .notFloat }
    let key = ctx.args.key(1)
    let text = try ctx.store.write(ctx.database, key) { table throws(CommandError) -> [UInt8] in
        let existing = table.lookupForWrite(key, now: ctx.now)
        var current: LongDouble = 0
        if let existing {
            guard let value = try table.withString(at: existing, { parseLongDouble($0) }) else { throw .notFloat }
            current = value
        }
        let sum = current + increment
        guard sum.isFinite else { throw .notFinite }
        let text = formatLongDouble(sum)
        text.withUnsafeBytes { bytes in table.putString(bytes, at: existing, key: key, now: ctx.now) }
        return text
    }
    ctx.noteDirty()
    ctx.notify(.string, "incrbyfloat", keyAt: 1)
    ctx.out.bulk(text)
}

func getrangeCommand(_ ctx: CommandContext) throws(CommandError) {
    try getRange(ctx)
}

func substrCommand(_ ctx: CommandContext) throws(CommandError) {
    try getRange(ctx)
}

func setrangeCommand(_ ctx: CommandContext) throws(CommandError) {
    let offset = try ctx.args.integer(2)
    guard offset >= 0 else { throw .offsetOutOfRange }
    let patch = ctx.args[3]
    let key = ctx.args.key(1)
    let limit = ctx.maxBulkLength
    let length = try ctx.store.write(ctx.database, key) { table throws(CommandError) -> Int in
        let existing = table.lookupForWrite(key, now: ctx.now)
        let currentLength = try existing.map { index throws(CommandError) in try table.stringLength(at: index) } ?? 0
        if patch.count == 0 { return currentLength }
        // Compared without adding, so an offset near Int64.max can't overflow.
        guard offset <= Int64(limit) - Int64(patch.count) else { throw .stringTooLong }
        let end = Int(offset) + patch.count
        func apply(_ bytes: inout [UInt8]) {
            if bytes.count < end { bytes.append(contentsOf: repeatElement(0, count: end - bytes.count)) }
            bytes.withUnsafeMutableBytes { target in
                UnsafeMutableRawBufferPointer(rebasing: target[Int(offset)..<end]).copyMemory(from: patch)
            }
        }
        guard let existing else {
            var bytes: [UInt8] = []
            apply(&bytes)
            bytes.withUnsafeBytes { table.insert(key, string: $0, now: ctx.now) }
            return bytes.count
        }
        return table.modifyString(at: existing, apply)
    }
    if patch.count > 0 {
        ctx.noteDirty()
        ctx.notify(.string, "setrange", keyAt: 1)
    }
    ctx.out.integer(length)
}

// MARK: - The table: data that points at the handlers

let stringCommands: [Command] = [
    Command(
        "get", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "string",
        summary: "Returns the string value of a key.",
        handler: getCommand),
    Command(
        "set", arity: -3, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "string",
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        since: "1.0.0",
        handler: setCommand),
    Command(
        "setnx", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
        summary: "Set the string value of a key only when the key doesn't exist.",
        handler: setnxCommand),
    Command(
        "setex", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "string",
        summary: "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        since: "2.0.0",
        handler: setexCommand),
    Command(
        "psetex", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "string",
        summary: "Sets both string value and expiration time in milliseconds of a key.",
        since: "2.6.0",
        handler: psetexCommand),
    Command(
        "getset", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
        summary: "Returns the previous string value of a key after setting it to a new value.",
        handler: getsetCommand),
    Command(
        "getdel", arity: 2, flags: [.write, .fast], keys: (1, 1, 1), group: "string",
        summary: "Returns the string value of a key after deleting the key.", since: "6.2.0",
        handler: getdelCommand),
    Command(
        "getex", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "string",
        summary: "Returns the string value of a key after setting its expiration time.", since: "6.2.0",
        handler: getexCommand),
    Command(
        "mget", arity: -2, flags: [.readonly, .fast], keys: (1, -1, 1), group: "string",
        summary: "Atomically returns the string values of one or more keys.",
        handler: mgetCommand),
    Command(
        "mset", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 2), group: "string",
        summary: "Atomically creates or modifies the string values of one or more keys.",
        since: "1.0.1",
        handler: msetCommand),
    Command(
        "msetnx", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 2), group: "string",
        summary: "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        since: "1.0.1",
        handler: msetnxCommand),
    Command(
        "append", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
        summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        since: "2.0.0",
        handler: appendCommand),
    Command(
        "strlen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "string",
        summary: "Returns the length of a string value.", since: "2.2.0",
        handler: strlenCommand),
    Command(
        "incr", arity: 2, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
        summary: "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        handler: incrCommand),
    Command(
        "decr", arity: 2, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
        summary: "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        handler: decrCommand),
    Command(
        "incrby", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
        summary: "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        handler: incrbyCommand),
    Command(
        "decrby", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
        summary:
            "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        handler: decrbyCommand),
    Command(
        "incrbyfloat", arity: 3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "string",
        summary:
            "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        since: "2.6.0",
        handler: incrbyfloatCommand),
    Command(
        "getrange", arity: 4, flags: [.readonly], keys: (1, 1, 1), group: "string",
        summary: "Returns a substring of the string stored at a key.", since: "2.4.0", complexity: "O(N)",
        handler: getrangeCommand),
    Command(
        "substr", arity: 4, flags: [.readonly], keys: (1, 1, 1), group: "string",
        summary: "Returns a substring from a string value.", complexity: "O(N)",
        handler: substrCommand),
    Command(
        "setrange", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "string",
        summary: "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        since: "2.2.0",
        handler: setrangeCommand),
]

/// MSET and MSETNX: every shard involved is write-locked for the whole command, so readers see all of it or
/// none of it. Returns whether the keys were set.
func msetGeneric(_ ctx: CommandContext, onlyIfAllAbsent: Bool) throws(CommandError) -> Bool {
    let args = ctx.args
    guard args.count % 2 == 1 else { throw .wrongArity(onlyIfAllAbsent ? "msetnx" : "mset") }
    let keys = stride(from: 1, to: args.count, by: 2).map { args.key($0) }
    let stored = ctx.store.withKeys(database: ctx.database, hashes: keys.map(\.hash), exclusive: true) {
        group -> Bool in
        if onlyIfAllAbsent {
            for key in keys {
                let exists = group.withTable(database: ctx.database, hash: key.hash) { table in
                    table.lookupForWrite(key, now: ctx.now) != nil
                }
                if exists { return false }
            }
        }
        for (position, key) in keys.enumerated() {
            let value = args[2 + position * 2]
            group.withTable(database: ctx.database, hash: key.hash) { table in
                table.setString(key, value, now: ctx.now)
            }
            ctx.notify(.string, "set", key)
        }
        return true
    }
    if stored { ctx.noteDirty(keys.count) }
    return stored
}

/// GETRANGE/SUBSTR with Redis 7's index rules (negative indices count from the end, clamped).
func getRange(_ ctx: CommandContext) throws(CommandError) {
    var start = try ctx.args.integer(2)
    var end = try ctx.args.integer(3)
    let key = ctx.args.key(1)
    try ctx.store.read(ctx.database, key) { table throws(CommandError) in
        guard let index = table.lookup(key, now: ctx.now) else {
            ctx.notify(.keyMiss, "keymiss", key)
            ctx.out.bulk([UInt8]())
            return
        }
        try table.withString(at: index) { bytes throws(CommandError) in
            let length = Int64(bytes.count)
            if start < 0 && end < 0 && start > end {
                ctx.out.bulk([UInt8]())
                return
            }
            if start < 0 { start = length + start }
            if end < 0 { end = length + end }
            if start < 0 { start = 0 }
            if end < 0 { end = 0 }
            if end >= length { end = length - 1 }
            if start > end || length == 0 {
                ctx.out.bulk([UInt8]())
            } else {
                ctx.out.bulk(UnsafeRawBufferPointer(rebasing: bytes[Int(start)...Int(end)]))
            }
        }
    }
}
