import RESP
import ShoalStore

// The set commands (Redis 7.0's t_set.c). Single-key changes run under one shard write lock; the multi-key
// ones (SMOVE, SINTERSTORE, SUNIONSTORE, SDIFFSTORE) hold every shard involved, locked in the one global order,
// so nobody sees a member in both sets of an SMOVE, or a STORE destination half written.

func saddCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let limits = ctx.limits
    let added = try ctx.writeCollection(creating: { SetValue(firstMember: args[2]) }) {
        set throws(CommandError) -> Int in
        var added = 0
        for index in 2..<args.count where set.add(args[index], limits: limits) { added += 1 }
        return added
    } ?? 0
    ctx.noteDirty(added)
    if added > 0 { ctx.notify(.set, "sadd", keyAt: 1) }
    ctx.out.integer(added)
}

func sremCommand(_ ctx: CommandContext) throws(CommandError) { try ctx.removeMembers(SetValue.self, notifying: .set, "srem") }

func sismemberCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(SetValue.self) { set in ctx.out.integer(set?.contains(ctx.args[2]) == true ? 1 : 0) }
}

func smismemberCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    try ctx.readCollection(SetValue.self) { set in
        ctx.out.arrayHeader(args.count - 2)
        for index in 2..<args.count { ctx.out.integer(set?.contains(args[index]) == true ? 1 : 0) }
    }
}

func scardCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(SetValue.self) { set in ctx.out.integer(set?.count ?? 0) }
}

func smembersCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(SetValue.self) { set in
        ctx.out.setHeader(set?.count ?? 0)
        set?.forEach { ctx.out.bulk($0) }
    }
}

/// SPOP key [count]: without a count one random member (or nil); with one, up to `count` distinct members.
func spopCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    guard args.count <= 3 else { throw .syntax }
    if args.count == 2 {
        let popped = try ctx.writeCollection(creating: nil) { (set: inout SetValue) throws(CommandError) -> [UInt8]? in
            var generator = SystemRandomNumberGenerator()
            guard let member = set.randomMember(using: &generator) else { return nil }
            member.withUnsafeBytes { _ = set.remove($0) }
            return member
        }
        if let member = popped ?? nil {
            ctx.noteDirty()
            ctx.notifyCollection(.set, "spop", keyAt: 1)
            ctx.out.bulk(member)
        } else {
            ctx.out.null()
        }
        return
    }
    // Redis's getPositiveLongFromObjectOrReply: one text for "x" and for -1.
    guard let count = parseInt64(args[2]), count >= 0 else { throw .countNotPositive }
    let popped = try ctx.writeCollection(creating: nil) { (set: inout SetValue) throws(CommandError) -> [[UInt8]] in
        let picks = randomPicks(set.members, RandomCount(unique: Int(count)))
        for member in picks { member.withUnsafeBytes { _ = set.remove($0) } }
        return picks
    } ?? []
    ctx.noteDirty(popped.count)
    if !popped.isEmpty { ctx.notifyCollection(.set, "spop", keyAt: 1) }
    ctx.out.setHeader(popped.count)
    for member in popped { ctx.out.bulk(member) }
}

/// SRANDMEMBER key [count]: a negative count may repeat members, as Redis.
func srandmemberCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    guard args.count <= 3 else { throw .syntax }
    guard args.count == 3 else {
        try ctx.readCollection(SetValue.self) { set in
            var generator = SystemRandomNumberGenerator()
            if let member = set?.randomMember(using: &generator) { ctx.out.bulk(member) } else { ctx.out.null() }
        }
        return
    }
    let request = try RandomCount(args, 2)
    try ctx.readCollection(SetValue.self) { set in
        let picks = set.map { randomPicks($0.members, request) } ?? []
        ctx.out.arrayHeader(picks.count)
        for member in picks { ctx.out.bulk(member) }
    }
}

func smoveCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let source = args.key(1)
    let destination = args.key(2)
    let member = args[3]
    let limits = ctx.limits
    let database = ctx.database
    let moved = try ctx.store.withKeys(database: database, hashes: [source.hash, destination.hash], exclusive: true) {
        group throws(CommandError) -> Bool in
        // Redis's order: a missing source is 0 whatever the destination; then both types; then the move.
        let sourceSet = try group.readCollection(SetValue.self, database, source, now: ctx.now)
        guard let sourceSet else { return false }
        _ = try group.readCollection(SetValue.self, database, destination, now: ctx.now)
        if source.matches(destination) { return sourceSet.contains(member) }
        guard sourceSet.contains(member) else { return false }
        try group.withTable(database: database, hash: source.hash) { table throws(CommandError) in
            _ = try table.modifyCollection(source, now: ctx.now, creating: nil) { (set: inout SetValue) in
                set.remove(member)
            }
            ctx.server.notifyChanged(.set, "srem", source, database: database, emptied: table.find(source) == nil)
        }
        let added = try group.withTable(database: database, hash: destination.hash) {
            table throws(CommandError) -> Bool in
            try table.modifyCollection(destination, now: ctx.now, creating: { SetValue(firstMember: member) }) {
                set in set.add(member, limits: limits)
            } ?? false
        }
        if added { ctx.notify(.set, "sadd", destination) }
        return true
    }
    if moved { ctx.noteDirty() }
    ctx.out.integer(moved ? 1 : 0)
}

extension KeyView {
    /// Whether two views name the same key.
    func matches(_ other: KeyView) -> Bool {
        hash == other.hash && bytes.count == other.bytes.count && bytes.elementsEqual(other.bytes)
    }
}


// MARK: - Intersection, union, difference

enum SetOperation {
    case intersection, union, difference
}

/// The members of `operation` over `sets` (nil: a missing key, an empty set). An intersection stops after
/// `limit` members when `limit` > 0 (SINTERCARD). The order is Redis's: an intersection in the order of its
/// smallest set, a union or difference in the order of the set it builds.
func combine(_ sets: [SetValue?], _ operation: SetOperation, limit: Int = 0) -> [[UInt8]] {
    switch operation {
    case .intersection:
        guard !sets.contains(where: { $0 == nil }) else { return [] }
        let sorted = sets.compactMap { $0 }.sorted { $0.count < $1.count }
        var result: [[UInt8]] = []
        sorted[0].forEach { member in
            guard limit == 0 || result.count < limit else { return }
            if sorted.dropFirst().allSatisfy({ $0.contains(member) }) { result.append(Array(member)) }
        }
        return result
    case .union:
        var result = SetValue.ints(IntSet())
        for set in sets { set?.forEach { result.add($0, limits: .standard) } }
        return result.members
    case .difference:
        guard let first = sets.first ?? nil else { return [] }
        var result = SetValue.ints(IntSet())
        first.forEach { member in
            if !sets.dropFirst().contains(where: { $0?.contains(member) == true }) { result.add(member, limits: .standard) }
        }
        return result.members
    }
}

extension CommandContext {
    /// The keys at arguments `range`, their sets read together under the shards' locks.
    func readSets(_ range: Range<Int>, group: ShardGroup) throws(CommandError) -> [SetValue?] {
        var sets: [SetValue?] = []
        for index in range {
            let set = try group.readCollection(SetValue.self, database, args.key(index), now: now)
            if set == nil { notify(.keyMiss, "keymiss", keyAt: index) }
            sets.append(set)
        }
        return sets
    }

    /// SINTER, SUNION, SDIFF: the result as a set reply.
    func replyCombined(_ operation: SetOperation) throws(CommandError) {
        let keys = (1..<args.count).map { args.key($0) }
        let members = try store.withKeys(database: database, hashes: keys.map(\.hash), exclusive: false) {
            group throws(CommandError) in combine(try readSets(1..<args.count, group: group), operation)
        }
        out.setHeader(members.count)
        for member in members { out.bulk(member) }
    }

    /// SINTERSTORE, SUNIONSTORE, SDIFFSTORE: the result replaces the destination (deleted when empty).
    func storeCombined(_ operation: SetOperation) throws(CommandError) {
        let destination = args.key(1)
        let hashes = (1..<args.count).map { args.key($0).hash }
        let limits = self.limits
        let stored = try store.withKeys(database: database, hashes: hashes, exclusive: true) {
            group throws(CommandError) -> Int in
            let members = combine(try readSets(2..<args.count, group: group), operation)
            group.store(
                members.isEmpty ? nil : .set(SetValue(members: members, limits: limits)), at: destination,
                database: database, now: now, server: server, .set, args.lowercased(0))
            return members.count
        }
        noteDirty()
        out.integer(stored)
    }
}

func sinterCommand(_ ctx: CommandContext) throws(CommandError) { try ctx.replyCombined(.intersection) }
func sunionCommand(_ ctx: CommandContext) throws(CommandError) { try ctx.replyCombined(.union) }
func sdiffCommand(_ ctx: CommandContext) throws(CommandError) { try ctx.replyCombined(.difference) }
func sinterstoreCommand(_ ctx: CommandContext) throws(CommandError) { try ctx.storeCombined(.intersection) }
func sunionstoreCommand(_ ctx: CommandContext) throws(CommandError) { try ctx.storeCombined(.union) }
func sdiffstoreCommand(_ ctx: CommandContext) throws(CommandError) { try ctx.storeCombined(.difference) }

/// SINTERCARD numkeys key [key ...] [LIMIT limit], checked in Redis 7.0's order.
func sintercardCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let end = try ctx.numkeysEnd(at: 1)
    let limit = try ctx.optionalLimit(from: end)
    let hashes = (2..<end).map { args.key($0).hash }
    let count = try ctx.store.withKeys(database: ctx.database, hashes: hashes, exclusive: false) {
        group throws(CommandError) in combine(try ctx.readSets(2..<end, group: group), .intersection, limit: limit).count
    }
    ctx.out.integer(count)
}

func sscanCommand(_ ctx: CommandContext) throws(CommandError) {
    let cursor = try scanCursor(ctx.args, 2)
    try ctx.readCollection(SetValue.self) { set throws(CommandError) in
        try ctx.replyScan(cursor, set.map { set in { cursor, options, items in
            set.scan(cursor: cursor) { member in if options.matches(member) { items.append(Array(member)) } }
        } })
    }
}

let setCommands: [Command] = [
    Command(
        "sadd", arity: -3, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "set",
        summary: "Adds one or more members to a set. Creates the key if it doesn't exist.",
        complexity: "O(1) for each element added", handler: saddCommand),
    Command(
        "srem", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "set",
        summary: "Removes one or more members from a set. Deletes the set if the last member was removed.",
        complexity: "O(N)", handler: sremCommand),
    Command(
        "sismember", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "set",
        summary: "Determines whether a member belongs to a set.", handler: sismemberCommand),
    Command(
        "smismember", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "set",
        summary: "Determines whether multiple members belong to a set.", since: "6.2.0", complexity: "O(N)",
        handler: smismemberCommand),
    Command(
        "scard", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "set",
        summary: "Returns the number of members in a set.", handler: scardCommand),
    Command(
        "smembers", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "set",
        summary: "Returns all members of a set.", complexity: "O(N)", handler: smembersCommand),
    Command(
        "spop", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "set",
        summary: "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
        complexity: "O(N)", handler: spopCommand),
    Command(
        "srandmember", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "set",
        summary: "Get one or multiple random members from a set", complexity: "O(N)", handler: srandmemberCommand),
    Command(
        "smove", arity: 4, flags: [.write, .fast], keys: (1, 2, 1), group: "set",
        summary: "Moves a member from one set to another.", handler: smoveCommand),
    Command(
        "sinter", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "set",
        summary: "Returns the intersect of multiple sets.", complexity: "O(N*M)", handler: sinterCommand),
    Command(
        "sintercard", arity: -3, flags: [.readonly], numkeysAt: 1, group: "set",
        summary: "Returns the number of members of the intersect of multiple sets.", since: "7.0.0",
        complexity: "O(N*M)", handler: sintercardCommand),
    Command(
        "sinterstore", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 1), group: "set",
        summary: "Stores the intersect of multiple sets in a key.", complexity: "O(N*M)",
        handler: sinterstoreCommand),
    Command(
        "sunion", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "set",
        summary: "Returns the union of multiple sets.", complexity: "O(N)", handler: sunionCommand),
    Command(
        "sunionstore", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 1), group: "set",
        summary: "Stores the union of multiple sets in a key.", complexity: "O(N)", handler: sunionstoreCommand),
    Command(
        "sdiff", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "set",
        summary: "Returns the difference of multiple sets.", complexity: "O(N)", handler: sdiffCommand),
    Command(
        "sdiffstore", arity: -3, flags: [.write, .denyOOM], keys: (1, -1, 1), group: "set",
        summary: "Stores the difference of multiple sets in a key.", complexity: "O(N)", handler: sdiffstoreCommand),
    Command(
        "sscan", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "set",
        summary: "Iterates over members of a set.", since: "2.8.0", complexity: "O(1) for every call",
        handler: sscanCommand),
]
