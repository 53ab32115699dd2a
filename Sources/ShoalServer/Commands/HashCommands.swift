import RESP
import ShoalStore

// The hash commands (Redis 7.0's t_hash.c). Every read-modify-write runs inside one `writeCollection`, under
// one shard write lock; a hash left without fields is deleted in the same step.

extension CommandError {
    static let nanOrInfinity = CommandError("ERR value is NaN or Infinity")
}

/// HSET and HMSET: `key field value [field value ...]`. Returns how many fields were new.
private func setFields(_ ctx: CommandContext, command: String) throws(CommandError) -> Int {
    let args = ctx.args
    guard args.count % 2 == 0 else { throw .wrongArity(command) }
    let limits = ctx.limits
    let added = try ctx.writeCollection(creating: { HashValue() }) { hash throws(CommandError) -> Int in
        var added = 0
        for index in stride(from: 2, to: args.count, by: 2) where hash.set(args[index], args[index + 1], limits: limits) {
            added += 1
        }
        return added
    }
    ctx.noteDirty((args.count - 2) / 2)
    ctx.notify(.hash, "hset", keyAt: 1)
    return added ?? 0
}

func hsetCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.integer(try setFields(ctx, command: "hset"))
}

func hmsetCommand(_ ctx: CommandContext) throws(CommandError) {
    _ = try setFields(ctx, command: "hmset")
    ctx.out.ok()
}

func hsetnxCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let limits = ctx.limits
    let added = try ctx.writeCollection(creating: { HashValue() }) { hash throws(CommandError) -> Bool in
        guard !hash.contains(args[2]) else { return false }
        return hash.set(args[2], args[3], limits: limits)
    }
    if added == true {
        ctx.noteDirty()
        ctx.notify(.hash, "hset", keyAt: 1)
    }
    ctx.out.integer(added == true ? 1 : 0)
}

func hgetCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(HashValue.self) { hash in
        hash?.withValue(ctx.args[2]) { value in
            if let value { ctx.out.bulk(value) } else { ctx.out.null() }
        } ?? ctx.out.null()
    }
}

func hmgetCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    try ctx.readCollection(HashValue.self) { hash in
        ctx.out.arrayHeader(args.count - 2)
        for index in 2..<args.count {
            hash?.withValue(args[index]) { value in
                if let value { ctx.out.bulk(value) } else { ctx.out.null() }
            } ?? ctx.out.null()
        }
    }
}

func hdelCommand(_ ctx: CommandContext) throws(CommandError) { try ctx.removeMembers(HashValue.self, notifying: .hash, "hdel") }

func hlenCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(HashValue.self) { hash in ctx.out.integer(hash?.count ?? 0) }
}

func hstrlenCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(HashValue.self) { hash in
        ctx.out.integer(hash?.withValue(ctx.args[2]) { $0?.count ?? 0 } ?? 0)
    }
}

func hexistsCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(HashValue.self) { hash in ctx.out.integer(hash?.contains(ctx.args[2]) == true ? 1 : 0) }
}

func hkeysCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(HashValue.self) { hash in
        ctx.out.arrayHeader(hash?.count ?? 0)
        hash?.forEach { field, _ in ctx.out.bulk(field) }
    }
}

func hvalsCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(HashValue.self) { hash in
        ctx.out.arrayHeader(hash?.count ?? 0)
        hash?.forEach { _, value in ctx.out.bulk(value) }
    }
}

func hgetallCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(HashValue.self) { hash in
        ctx.out.mapHeader(hash?.count ?? 0)
        hash?.forEach { field, value in
            ctx.out.bulk(field)
            ctx.out.bulk(value)
        }
    }
}

func hincrbyCommand(_ ctx: CommandContext) throws(CommandError) {
    let increment = try ctx.args.integer(3)
    let field = ctx.args[2]
    let limits = ctx.limits
    let result = try ctx.writeCollection(creating: { HashValue() }) { hash throws(CommandError) -> Int64 in
        // nil: no such field (0); .some(nil): a value that is not an integer.
        let stored: Int64?? = hash.withValue(field) { $0.map { parseInt64($0) } }
        guard let current = stored ?? 0 else { throw .hashValueNotInteger }
        let (sum, overflow) = current.addingReportingOverflow(increment)
        if overflow { throw .overflow }
        withDecimalBytes(sum) { _ = hash.set(field, $0, limits: limits) }
        return sum
    }
    ctx.noteDirty()
    ctx.notify(.hash, "hincrby", keyAt: 1)
    ctx.out.integer(result ?? 0)
}

func hincrbyfloatCommand(_ ctx: CommandContext) throws(CommandError) {
    guard let increment = parseLongDouble(ctx.args[3]) else { throw .notFloat }
    guard increment.isFinite else { throw .nanOrInfinity }
    let field = ctx.args[2]
    let limits = ctx.limits
    let text = try ctx.writeCollection(creating: { HashValue() }) { hash throws(CommandError) -> [UInt8] in
        let stored: LongDouble?? = hash.withValue(field) { $0.map { parseLongDouble($0) } }
        guard let current = stored ?? 0 else { throw .hashValueNotFloat }
        let sum = current + increment
        guard sum.isFinite else { throw .notFinite }
        let text = formatLongDouble(sum)
        text.withUnsafeBytes { _ = hash.set(field, $0, limits: limits) }
        return text
    }
    ctx.noteDirty()
    ctx.notify(.hash, "hincrbyfloat", keyAt: 1)
    ctx.out.bulk(text ?? [])
}

/// HRANDFIELD key [count [WITHVALUES]], as Redis 7.0's hrandfieldCommand and hrandfieldWithCountCommand.
func hrandfieldCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    guard args.count >= 3 else {
        try ctx.readCollection(HashValue.self) { hash in
            var generator = SystemRandomNumberGenerator()
            if let pair = hash?.randomPair(using: &generator) { ctx.out.bulk(pair.field) } else { ctx.out.null() }
        }
        return
    }
    let request = try RandomCount(args, 2)
    guard args.count == 3 || (args.count == 4 && args.matches(3, "WITHVALUES")) else { throw .syntax }
    let withValues = args.count == 4
    if withValues && request.count > Int.max / 2 { throw .valueOutOfRange }
    try ctx.readCollection(HashValue.self) { hash in
        guard let hash, request.count > 0 else {
            ctx.out.arrayHeader(0)
            return
        }
        let picks = randomPicks(hash.pairs, request)
        // RESP3 pairs each field with its value; RESP2 flattens them.
        if withValues && !ctx.out.isResp3 {
            ctx.out.arrayHeader(picks.count * 2)
        } else {
            ctx.out.arrayHeader(picks.count)
        }
        for pick in picks {
            if withValues && ctx.out.isResp3 { ctx.out.arrayHeader(2) }
            ctx.out.bulk(pick.field)
            if withValues { ctx.out.bulk(pick.value) }
        }
    }
}

/// `request.count` random elements of `all`: distinct (at most all of them, in random order) when
/// `request.unique`, else exactly that many with repeats.
func randomPicks<T>(_ all: [T], _ request: RandomCount) -> [T] {
    var generator = SystemRandomNumberGenerator()
    guard !all.isEmpty else { return [] }
    if !request.unique {
        return (0..<request.count).map { _ in all[Int.random(in: 0..<all.count, using: &generator)] }
    }
    if request.count >= all.count { return all.shuffled(using: &generator) }
    var pool = all
    for index in 0..<request.count { pool.swapAt(index, Int.random(in: index..<pool.count, using: &generator)) }
    return Array(pool[..<request.count])
}

func hscanCommand(_ ctx: CommandContext) throws(CommandError) {
    let cursor = try scanCursor(ctx.args, 2)
    try ctx.readCollection(HashValue.self) { hash throws(CommandError) in
        try ctx.replyScan(cursor, hash.map { hash in { cursor, options, items in
            hash.scan(cursor: cursor) { field, value in
                guard options.matches(field) else { return }
                items.append(Array(field))
                items.append(Array(value))
            }
        } })
    }
}

let hashCommands: [Command] = [
    Command(
        "hset", arity: -4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hash",
        summary: "Creates or modifies the value of a field in a hash.", since: "2.0.0",
        complexity: "O(1) for each field/value pair added", handler: hsetCommand),
    Command(
        "hmset", arity: -4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hash",
        summary: "Sets the values of multiple fields.", since: "2.0.0", complexity: "O(N)", handler: hmsetCommand),
    Command(
        "hsetnx", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hash",
        summary: "Sets the value of a field in a hash only when the field doesn't exist.", since: "2.0.0",
        handler: hsetnxCommand),
    Command(
        "hget", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash",
        summary: "Returns the value of a field in a hash.", since: "2.0.0", handler: hgetCommand),
    Command(
        "hmget", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash",
        summary: "Returns the values of all fields in a hash.", since: "2.0.0", complexity: "O(N)",
        handler: hmgetCommand),
    Command(
        "hdel", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "hash",
        summary: "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
        since: "2.0.0", complexity: "O(N)", handler: hdelCommand),
    Command(
        "hlen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash",
        summary: "Returns the number of fields in a hash.", since: "2.0.0", handler: hlenCommand),
    Command(
        "hstrlen", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash",
        summary: "Returns the length of the value of a field.", since: "3.2.0", handler: hstrlenCommand),
    Command(
        "hexists", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "hash",
        summary: "Determines whether a field exists in a hash.", since: "2.0.0", handler: hexistsCommand),
    Command(
        "hkeys", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "hash",
        summary: "Returns all fields in a hash.", since: "2.0.0", complexity: "O(N)", handler: hkeysCommand),
    Command(
        "hvals", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "hash",
        summary: "Returns all values in a hash.", since: "2.0.0", complexity: "O(N)", handler: hvalsCommand),
    Command(
        "hgetall", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "hash",
        summary: "Returns all fields and values in a hash.", since: "2.0.0", complexity: "O(N)",
        handler: hgetallCommand),
    Command(
        "hincrby", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hash",
        summary: "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
        since: "2.0.0", handler: hincrbyCommand),
    Command(
        "hincrbyfloat", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hash",
        summary: "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
        since: "2.6.0", handler: hincrbyfloatCommand),
    Command(
        "hrandfield", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "hash",
        summary: "Returns one or more random fields from a hash.", since: "6.2.0", complexity: "O(N)",
        handler: hrandfieldCommand),
    Command(
        "hscan", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "hash",
        summary: "Iterates over fields and values of a hash.", since: "2.8.0", complexity: "O(1) for every call",
        handler: hscanCommand),
]
