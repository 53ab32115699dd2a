import RESP
import ShoalStore

// The list commands (Redis 7.0's t_list.c), and the blocking ones (Blocking.swift). Each runs under its keys'
// shard write locks; a list emptied by a pop, LREM or LTRIM is deleted in the same step.

extension CommandError {
    static let indexOutOfRange = CommandError("ERR index out of range")
    static let rankZero = CommandError(
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
    )
    static let countNegative = CommandError("ERR COUNT can't be negative")
    static let maxlenNegative = CommandError("ERR MAXLEN can't be negative")
    static let countNotAboveZero = CommandError("ERR count should be greater than 0")
    static let timeoutNotFloat = CommandError("ERR timeout is not a float or out of range")
    static let timeoutNegative = CommandError("ERR timeout is negative")
    static let timeoutOutOfRange = CommandError("ERR timeout is out of range")
}

extension Arguments {
    /// LEFT or RIGHT (LMOVE, LMPOP): anything else is a syntax error.
    func listEnd(_ index: Int) throws(CommandError) -> ListValue.End {
        if matches(index, "LEFT") { return .head }
        if matches(index, "RIGHT") { return .tail }
        throw .syntax
    }

    /// A blocking command's timeout in seconds (Redis's getTimeoutFromObjectOrReply): the absolute deadline in
    /// milliseconds, or 0 for none.
    func blockingDeadline(_ index: Int, now: Milliseconds) throws(CommandError) -> Milliseconds {
        guard let seconds = parseLongDouble(self[index]) else { throw .timeoutNotFloat }
        let milliseconds = seconds * 1000
        guard milliseconds <= LongDouble(Int64.max) else { throw .timeoutOutOfRange }
        guard milliseconds >= 0 else { throw .timeoutNegative }
        let rounded = Int64(milliseconds.rounded(.up))
        guard rounded > 0 else { return 0 }
        guard rounded <= Int64.max - now else { throw .timeoutOutOfRange }
        return now + rounded
    }
}

/// Redis's index rules for LRANGE/LTRIM: negative counts from the end; the result clamped to the list.
func clampedRange(_ start: Int64, _ end: Int64, count: Int) -> Range<Int>? {
    let length = Int64(count)
    var start = start < 0 ? max(0, length + start) : start
    var end = end < 0 ? length + end : end
    if end >= length { end = length - 1 }
    if start < 0 { start = 0 }
    guard start <= end, start < length else { return nil }
    return Int(start)..<Int(end + 1)
}

/// An index argument resolved against a list of `count` elements, or nil when out of range.
func resolvedIndex(_ index: Int64, count: Int) -> Int? {
    let resolved = index < 0 ? Int64(count) + index : index
    return resolved >= 0 && resolved < Int64(count) ? Int(resolved) : nil
}

// MARK: - Pushing

/// LPUSH, RPUSH, LPUSHX, RPUSHX: the length after the push (0 when an X form found no list).
private func push(_ ctx: CommandContext, at end: ListValue.End, onlyIfExists: Bool) throws(CommandError) {
    let args = ctx.args
    let limits = ctx.limits
    let length = try ctx.writeCollection(creating: onlyIfExists ? nil : { ListValue() }) {
        (list: inout ListValue) throws(CommandError) -> Int in
        for index in 2..<args.count { list.push(args[index], at: end, limits: limits) }
        return list.count
    }
    if length != nil {
        ctx.noteDirty(args.count - 2)
        ctx.notify(.list, end == .head ? "lpush" : "rpush", keyAt: 1)
    }
    ctx.out.integer(length ?? 0)
}

func lpushCommand(_ ctx: CommandContext) throws(CommandError) { try push(ctx, at: .head, onlyIfExists: false) }
func rpushCommand(_ ctx: CommandContext) throws(CommandError) { try push(ctx, at: .tail, onlyIfExists: false) }
func lpushxCommand(_ ctx: CommandContext) throws(CommandError) { try push(ctx, at: .head, onlyIfExists: true) }
func rpushxCommand(_ ctx: CommandContext) throws(CommandError) { try push(ctx, at: .tail, onlyIfExists: true) }

// MARK: - Popping

/// LPOP and RPOP `key [count]`: an element (or nil); with a count, an array (nil array for a missing key).
private func pop(_ ctx: CommandContext, at end: ListValue.End) throws(CommandError) {
    let args = ctx.args
    guard args.count <= 3 else { throw .wrongArity(args.lowercased(0)) }
    var count: Int?
    if args.count == 3 {
        guard let value = parseInt64(args[2]), value >= 0 else { throw .countNotPositive }
        count = Int(value)
    }
    let popped = try ctx.writeCollection(creating: nil) { (list: inout ListValue) throws(CommandError) -> [[UInt8]] in
        var elements: [[UInt8]] = []
        while elements.count < (count ?? 1), let element = list.pop(end) { elements.append(element) }
        return elements
    }
    guard let popped else {
        if count == nil { ctx.out.null() } else { ctx.out.nullArray() }
        return
    }
    ctx.noteDirty(popped.count)
    if !popped.isEmpty { ctx.notifyCollection(.list, end == .head ? "lpop" : "rpop", keyAt: 1) }
    if count == nil {
        ctx.out.bulk(popped[0])
    } else {
        ctx.out.bulkArray(popped)
    }
}

func lpopCommand(_ ctx: CommandContext) throws(CommandError) { try pop(ctx, at: .head) }
func rpopCommand(_ ctx: CommandContext) throws(CommandError) { try pop(ctx, at: .tail) }

// MARK: - Reading

func llenCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(ListValue.self) { list in ctx.out.integer(list?.count ?? 0) }
}

func lrangeCommand(_ ctx: CommandContext) throws(CommandError) {
    let start = try ctx.args.integer(2)
    let end = try ctx.args.integer(3)
    try ctx.readCollection(ListValue.self) { list in
        guard let list, let range = clampedRange(start, end, count: list.count) else {
            ctx.out.arrayHeader(0)
            return
        }
        ctx.out.arrayHeader(range.count)
        list.forEach(from: range.lowerBound) { position, element in
            guard position < range.upperBound else { return false }
            ctx.out.bulk(element)
            return true
        }
    }
}

/// LINDEX looks the key up before it reads the index, as Redis (so a missing key is nil whatever the index).
func lindexCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(ListValue.self) { list throws(CommandError) in
        guard let list else {
            ctx.out.null()
            return
        }
        let index = try ctx.args.integer(2)
        guard let position = resolvedIndex(index, count: list.count) else {
            ctx.out.null()
            return
        }
        list.withElement(at: position) { ctx.out.bulk($0) }
    }
}

/// LPOS key element [RANK rank] [COUNT count] [MAXLEN len], options checked first, as Redis's lposCommand.
func lposCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    var rank: Int64 = 1
    var count: Int?
    var maxlen = 0
    var index = 3
    while index < args.count {
        guard index + 1 < args.count else { throw .syntax }
        if args.matches(index, "RANK") {
            let value = try args.integer(index + 1)
            guard value != 0 else { throw .rankZero }  // Redis 7.0 takes any other long, even LONG_MIN
            rank = value
        } else if args.matches(index, "COUNT") {
            guard let value = parseInt64(args[index + 1]), value >= 0 else { throw .countNegative }
            count = Int(value)
        } else if args.matches(index, "MAXLEN") {
            guard let value = parseInt64(args[index + 1]), value >= 0 else { throw .maxlenNegative }
            maxlen = Int(value)
        } else {
            throw .syntax
        }
        index += 2
    }
    let target = args[2]
    try ctx.readCollection(ListValue.self) { list in
        var found: [Int] = []
        if let list, list.count > 0 {
            var skip = rank.magnitude - 1
            var compared = 0
            let wanted = count.map { $0 == 0 ? Int.max : $0 } ?? 1
            list.forEach(from: rank > 0 ? 0 : list.count - 1, reverse: rank < 0) { position, element in
                if maxlen > 0 && compared >= maxlen { return false }
                compared += 1
                guard element.count == target.count, element.elementsEqual(target) else { return true }
                if skip > 0 {
                    skip -= 1
                    return true
                }
                found.append(position)
                return found.count < wanted
            }
        }
        if count != nil {
            ctx.out.arrayHeader(found.count)
            for position in found { ctx.out.integer(position) }
        } else if let first = found.first {
            ctx.out.integer(first)
        } else {
            ctx.out.null()
        }
    }
}

// MARK: - Changing in place

/// LSET: "no such key" and WRONGTYPE come before the index is read, as in Redis.
func lsetCommand(_ ctx: CommandContext) throws(CommandError) {
    let element = ctx.args[3]
    let done = try ctx.writeCollection(creating: nil) { (list: inout ListValue) throws(CommandError) in
        let index = try ctx.args.integer(2)
        guard let position = resolvedIndex(index, count: list.count) else { throw .indexOutOfRange }
        list.replace(at: position, with: element)
    }
    guard done != nil else { throw .noSuchKey }
    ctx.noteDirty()
    ctx.notify(.list, "lset", keyAt: 1)
    ctx.out.ok()
}

func linsertCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let after: Bool
    if args.matches(2, "AFTER") {
        after = true
    } else if args.matches(2, "BEFORE") {
        after = false
    } else {
        throw .syntax
    }
    let pivot = args[3]
    let limits = ctx.limits
    let length = try ctx.writeCollection(creating: nil) { (list: inout ListValue) throws(CommandError) -> Int in
        var position: Int?
        list.forEach { index, element in
            guard element.count == pivot.count, element.elementsEqual(pivot) else { return true }
            position = index
            return false
        }
        guard let position else { return -1 }
        list.insert(args[4], at: after ? position + 1 : position, limits: limits)
        return list.count
    }
    if let length, length > 0 {
        ctx.noteDirty()
        ctx.notify(.list, "linsert", keyAt: 1)
    }
    ctx.out.integer(length ?? 0)
}

func lremCommand(_ ctx: CommandContext) throws(CommandError) {
    let count = try ctx.args.integer(2)
    let target = ctx.args[3]
    let removed = try ctx.writeCollection(creating: nil) { (list: inout ListValue) throws(CommandError) -> Int in
        var positions: [Int] = []
        let limit = count == 0 || count == Int64.min ? Int.max : Int(count.magnitude)
        list.forEach(from: count < 0 ? list.count - 1 : 0, reverse: count < 0) { position, element in
            if element.count == target.count && element.elementsEqual(target) { positions.append(position) }
            return positions.count < limit
        }
        list.remove(atPositions: positions.sorted())
        return positions.count
    } ?? 0
    ctx.noteDirty(removed)
    if removed > 0 { ctx.notifyCollection(.list, "lrem", keyAt: 1) }
    ctx.out.integer(removed)
}

func ltrimCommand(_ ctx: CommandContext) throws(CommandError) {
    let start = try ctx.args.integer(2)
    let end = try ctx.args.integer(3)
    let found = try ctx.writeCollection(creating: nil) { (list: inout ListValue) throws(CommandError) in
        list.keep(clampedRange(start, end, count: list.count) ?? 0..<0)
    }
    ctx.noteDirty()
    if found != nil { ctx.notifyCollection(.list, "ltrim", keyAt: 1) }
    ctx.out.ok()
}

// MARK: - Moving

/// LMOVE and RPOPLPUSH: keys 1 and 2, ends given.
private func move(_ ctx: CommandContext, from: ListValue.End, to: ListValue.End) throws(CommandError) {
    let source = ctx.args.key(1).owned()
    let destination = ctx.args.key(2).owned()
    let limits = ctx.limits
    let element = try ctx.store.withKeys(
        database: ctx.database, hashes: [source.hash, destination.hash], exclusive: true
    ) { group throws(CommandError) in
        try moveElement(
            in: group, server: ctx.server, database: ctx.database, source: source, destination: destination, from: from, to: to,
            now: ctx.now, limits: limits)
    }
    guard let element else {
        ctx.out.null()
        return
    }
    ctx.noteDirty()
    ctx.out.bulk(element)
}

func lmoveCommand(_ ctx: CommandContext) throws(CommandError) {
    try move(ctx, from: try ctx.args.listEnd(3), to: try ctx.args.listEnd(4))
}

func rpoplpushCommand(_ ctx: CommandContext) throws(CommandError) { try move(ctx, from: .tail, to: .head) }

/// LMPOP and BLMPOP's `numkeys key [key ...] LEFT|RIGHT [COUNT count]` from argument `start`.
private func parseMultiPop(_ ctx: CommandContext, from start: Int) throws(CommandError) -> BlockingRequest {
    let args = ctx.args
    let keysEnd = try ctx.numkeysEnd(at: start)
    guard keysEnd < args.count else { throw .syntax }
    let end = try args.listEnd(keysEnd)
    let count = try ctx.optionalCount(from: keysEnd + 1)
    let keys = ((start + 1)..<keysEnd).map { args.key($0).owned() }
    return BlockingRequest(kind: .multiPop(end, count: count ?? 1), keys: keys)
}

func lmpopCommand(_ ctx: CommandContext) throws(CommandError) {
    try runBlocking(ctx, try parseMultiPop(ctx, from: 1), deadline: nil)
}

// MARK: - Blocking

/// Runs a blocking command: its attempt now, under its keys' locks; if there is nothing and the client may
/// wait (not inside EXEC or a script, not a detached session, and `deadline` non-nil), it is parked there and
/// then (see Blocking.swift); if it may not, it gets the "nothing" reply.
func runBlocking(_ ctx: CommandContext, _ request: BlockingRequest, deadline: Milliseconds?) throws(CommandError) {
    let limits = ctx.limits
    let database = ctx.database
    let canWait = deadline != nil && !ctx.store.isHeld && ctx.client.handle.loopIndex < ctx.server.ioThreads
    let parked = try ctx.store.withKeys(database: database, hashes: request.keys.map(\.hash), exclusive: true) {
        group throws(CommandError) -> BlockedClient? in
        if try request.attempt(
            in: group, server: ctx.server, database: database, now: ctx.now, limits: limits, strictTypes: true, out: &ctx.out,
            claim: { true })
        {
            return nil
        }
        guard canWait, let deadline else {
            request.replyNothing(to: &ctx.out, timedOut: false)
            return nil
        }
        let waiter = BlockedClient(
            clientID: ctx.client.id, loopIndex: ctx.client.handle.loopIndex, database: database,
            protocolVersion: ctx.client.protocolVersion, request: request, deadline: deadline, limits: limits)
        ctx.server.blocking.add(waiter) { key, token in
            group.withTable(database: key.database, hash: key.key.hash) { $0.watch(key.key, token, now: ctx.now) }
        }
        return waiter
    }
    if let parked {
        ctx.client.blocked = parked
    } else {
        ctx.noteDirty()
    }
}

/// BLPOP and BRPOP `key [key ...] timeout`.
private func blockingPop(_ ctx: CommandContext, at end: ListValue.End) throws(CommandError) {
    let args = ctx.args
    let deadline = try args.blockingDeadline(args.count - 1, now: ctx.now)
    let keys = (1..<(args.count - 1)).map { args.key($0).owned() }
    try runBlocking(ctx, BlockingRequest(kind: .pop(end), keys: keys), deadline: deadline)
}

func blpopCommand(_ ctx: CommandContext) throws(CommandError) { try blockingPop(ctx, at: .head) }
func brpopCommand(_ ctx: CommandContext) throws(CommandError) { try blockingPop(ctx, at: .tail) }

func blmoveCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let from = try args.listEnd(3)
    let to = try args.listEnd(4)
    let deadline = try args.blockingDeadline(5, now: ctx.now)
    let request = BlockingRequest(kind: .move(from: from, to: to), keys: [args.key(1).owned(), args.key(2).owned()])
    try runBlocking(ctx, request, deadline: deadline)
}

func brpoplpushCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let deadline = try args.blockingDeadline(3, now: ctx.now)
    let request = BlockingRequest(kind: .move(from: .tail, to: .head), keys: [args.key(1).owned(), args.key(2).owned()])
    try runBlocking(ctx, request, deadline: deadline)
}

func blmpopCommand(_ ctx: CommandContext) throws(CommandError) {
    let deadline = try ctx.args.blockingDeadline(1, now: ctx.now)
    try runBlocking(ctx, try parseMultiPop(ctx, from: 2), deadline: deadline)
}

let listCommands: [Command] = [
    Command(
        "lpush", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "list",
        summary: "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
        complexity: "O(1) for each element added", handler: lpushCommand),
    Command(
        "rpush", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "list",
        summary: "Appends one or more elements to a list. Creates the key if it doesn't exist.",
        complexity: "O(1) for each element added", handler: rpushCommand),
    Command(
        "lpushx", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "list",
        summary: "Prepends one or more elements to a list only when the list exists.", since: "2.2.0",
        handler: lpushxCommand),
    Command(
        "rpushx", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "list",
        summary: "Appends an element to a list only when the list exists.", since: "2.2.0", handler: rpushxCommand),
    Command(
        "lpop", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "list",
        summary: "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
        complexity: "O(N)", handler: lpopCommand),
    Command(
        "rpop", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "list",
        summary: "Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
        complexity: "O(N)", handler: rpopCommand),
    Command(
        "llen", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "list",
        summary: "Returns the length of a list.", handler: llenCommand),
    Command(
        "lrange", arity: 4, flags: [.readonly], keys: (1, 1, 1), group: "list",
        summary: "Returns a range of elements from a list.", complexity: "O(S+N)", handler: lrangeCommand),
    Command(
        "lindex", arity: 3, flags: [.readonly], keys: (1, 1, 1), group: "list",
        summary: "Returns an element from a list by its index.", complexity: "O(N)", handler: lindexCommand),
    Command(
        "lpos", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "list",
        summary: "Returns the index of matching elements in a list.", since: "6.0.6", complexity: "O(N)",
        handler: lposCommand),
    Command(
        "lset", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "list",
        summary: "Sets the value of an element in a list by its index.", complexity: "O(N)", handler: lsetCommand),
    Command(
        "linsert", arity: 5, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "list",
        summary: "Inserts an element before or after another element in a list.", since: "2.2.0",
        complexity: "O(N)", handler: linsertCommand),
    Command(
        "lrem", arity: 4, flags: [.write], keys: (1, 1, 1), group: "list",
        summary: "Removes elements from a list. Deletes the list if the last element was removed.",
        complexity: "O(N+M)", handler: lremCommand),
    Command(
        "ltrim", arity: 4, flags: [.write], keys: (1, 1, 1), group: "list",
        summary: "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
        complexity: "O(N)", handler: ltrimCommand),
    Command(
        "lmove", arity: 5, flags: [.write, .denyOOM], keys: (1, 2, 1), group: "list",
        summary: "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
        since: "6.2.0", handler: lmoveCommand),
    Command(
        "rpoplpush", arity: 3, flags: [.write, .denyOOM], keys: (1, 2, 1), group: "list",
        summary: "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
        since: "1.2.0", handler: rpoplpushCommand),
    Command(
        "lmpop", arity: -4, flags: [.write], numkeysAt: 1, group: "list",
        summary: "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
        since: "7.0.0", complexity: "O(N+M)", handler: lmpopCommand),
    Command(
        "blpop", arity: -3, flags: [.write, .noscript], keys: (1, -2, 1), group: "list",
        summary: "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.0.0", complexity: "O(N)", handler: blpopCommand),
    Command(
        "brpop", arity: -3, flags: [.write, .noscript], keys: (1, -2, 1), group: "list",
        summary: "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.0.0", complexity: "O(N)", handler: brpopCommand),
    Command(
        "blmove", arity: 6, flags: [.write, .denyOOM, .noscript], keys: (1, 2, 1), group: "list",
        summary: "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
        since: "6.2.0", handler: blmoveCommand),
    Command(
        "brpoplpush", arity: 4, flags: [.write, .denyOOM, .noscript], keys: (1, 2, 1), group: "list",
        summary: "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.2.0", handler: brpoplpushCommand),
    Command(
        "blmpop", arity: -5, flags: [.write], numkeysAt: 2, group: "list",
        summary: "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "7.0.0", complexity: "O(N+M)", handler: blmpopCommand),
]
