import RESP
import ShoalStore

// Generic key commands (Redis's db.c). Multi-key commands lock all their shards together (ascending order),
// so DEL k1 k2, RENAME, COPY and MOVE are atomic: no client ever sees a key both in its old and new place, or
// in neither.

/// DEL and UNLINK: Shoal frees memory inline either way (values are reference-counted, not walked).
func deleteKeys(_ ctx: CommandContext) {
    let args = ctx.args
    let keys = (1..<args.count).map { args.key($0) }
    let removed = ctx.store.withKeys(database: ctx.database, hashes: keys.map(\.hash), exclusive: true) {
        group -> Int in
        var removed = 0
        for key in keys {
            group.withTable(database: ctx.database, hash: key.hash) { table in
                if let index = table.lookupForWrite(key, now: ctx.now) {
                    table.remove(at: index)
                    removed += 1
                    ctx.notify(.generic, "del", key)
                }
            }
        }
        return removed
    }
    ctx.noteDirty(removed)
    ctx.out.integer(removed)
}

/// EXISTS and TOUCH: how many of the named keys exist (a key named twice counts twice, as in Redis). Only
/// TOUCH counts as an access for LRU/LFU.
func countExisting(_ ctx: CommandContext, touch: Bool) {
    let args = ctx.args
    let keys = (1..<args.count).map { args.key($0) }
    let found = ctx.store.withKeys(database: ctx.database, hashes: keys.map(\.hash), exclusive: false) {
        group -> Int in
        keys.reduce(0) { total, key in
            total
                + group.readTable(database: ctx.database, hash: key.hash) { table in
                    if (touch ? table.lookup(key, now: ctx.now) : table.peek(key, now: ctx.now)) != nil { return 1 }
                    ctx.notify(.keyMiss, "keymiss", key)
                    return 0
                }
        }
    }
    ctx.out.integer(found)
}

/// RENAME and RENAMENX (Redis's `renameGenericCommand`). Returns whether the key moved.
func renameGeneric(_ ctx: CommandContext, onlyIfAbsent: Bool) throws(CommandError) -> Bool {
    let source = ctx.args.key(1)
    let target = ctx.args.key(2)
    let database = ctx.database
    let moved = try ctx.store.withKeys(database: database, hashes: [source.hash, target.hash], exclusive: true) {
        group throws(CommandError) -> Bool in
        let exists = group.withTable(database: database, hash: source.hash) {
            $0.lookupForWrite(source, now: ctx.now) != nil
        }
        guard exists else { throw .noSuchKey }
        if source.hash == target.hash && source.bytes.elementsEqual(target.bytes) { return !onlyIfAbsent }
        if onlyIfAbsent {
            let taken = group.withTable(database: database, hash: target.hash) {
                $0.lookupForWrite(target, now: ctx.now) != nil
            }
            if taken { return false }
        }
        guard let entry = group.withTable(database: database, hash: source.hash, { $0.remove(source) }) else {
            return false
        }
        group.withTable(database: database, hash: target.hash) { table in table.replaceAsNew(target, entry, now: ctx.now) }
        ctx.notify(.generic, "rename_from", source)
        ctx.notify(.generic, "rename_to", target)
        return true
    }
    if moved { ctx.noteDirty(2) }
    return moved
}

// MARK: - Handlers, one per command

func delCommand(_ ctx: CommandContext) throws(CommandError) {
    deleteKeys(ctx)
}

func unlinkCommand(_ ctx: CommandContext) throws(CommandError) {
    deleteKeys(ctx)
}

func existsCommand(_ ctx: CommandContext) throws(CommandError) {
    countExisting(ctx, touch: false)
}

func touchCommand(_ ctx: CommandContext) throws(CommandError) {
    countExisting(ctx, touch: true)
}

func typeCommand(_ ctx: CommandContext) throws(CommandError) {
    let key = ctx.args.key(1)
    let name = ctx.store.read(ctx.database, key) { table in
        table.peek(key, now: ctx.now).map { table.typeName(at: $0) } ?? "none"
    }
    if name == "none" { ctx.notify(.keyMiss, "keymiss", key) }
    ctx.out.simple(name)
}

func keysCommand(_ ctx: CommandContext) throws(CommandError) {
    let pattern = ctx.args.bytes(1)
    let matchAll = pattern == [UInt8(ascii: "*")]
    var found: [Key] = []
    // One consistent view, as Redis's single-threaded KEYS gives: every shard of the database read-locked.
    ctx.store.withDatabases([ctx.database], exclusive: false) { group in
        group.forEachTableReading { _, table in
            table.forEachIndex { index in
                guard !table.isExpired(at: index, now: ctx.now) else { return }
                let key = table.key(at: index)
                if matchAll || globMatch(pattern, key.bytes) { found.append(key) }
            }
        }
    }
    ctx.out.arrayHeader(found.count)
    for key in found { ctx.out.bulk(key.bytes) }
}

func scanCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let cursor = try scanCursor(args, 1)
    let options = try ScanOptions(args, from: 2, allowType: true)
    let (count, pattern, typeName) = (options.count, options.pattern, options.typeName)
    var keys: [[UInt8]] = []
    let next = ctx.store.scan(database: ctx.database, cursor: cursor, count: count, now: ctx.now) { table, index in
        if let typeName, table.typeName(at: index) != typeName { return }
        let key = table.withKeyBytes(at: index) { Array($0) }
        if let pattern, !globMatch(pattern, key) { return }
        keys.append(key)
    }
    ctx.out.arrayHeader(2)
    ctx.out.bulk(String(next))
    ctx.out.bulkArray(keys)
}

func randomkeyCommand(_ ctx: CommandContext) throws(CommandError) {
    if let key = ctx.store.randomKey(database: ctx.database, now: ctx.now) {
        ctx.out.bulk(key.bytes)
    } else {
        ctx.out.null()
    }
}

func renameCommand(_ ctx: CommandContext) throws(CommandError) {
    _ = try renameGeneric(ctx, onlyIfAbsent: false)
    ctx.out.ok()
}

func renamenxCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.integer(try renameGeneric(ctx, onlyIfAbsent: true) ? 1 : 0)
}

func copyCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    var targetDatabase = ctx.database
    var replace = false
    var index = 3
    while index < args.count {
        if args.matches(index, "REPLACE") {
            replace = true
        } else if args.matches(index, "DB"), index + 1 < args.count {
            targetDatabase = try ctx.databaseIndex(index + 1)
            index += 1
        } else {
            throw .syntax
        }
        index += 1
    }
    let source = args.key(1)
    let target = args.key(2)
    if targetDatabase == ctx.database && source.hash == target.hash && source.bytes.elementsEqual(target.bytes) {
        throw .sameObject
    }
    let keys = [(ctx.database, source.hash), (targetDatabase, target.hash)]
    let copied = ctx.store.withKeys(keys, exclusive: true) { group -> Bool in
        let entry = group.withTable(database: ctx.database, hash: source.hash) { table in
            table.lookupForWrite(source, now: ctx.now).map { table.entry(at: $0) }
        }
        guard let entry else {
            ctx.notify(.keyMiss, "keymiss", source)
            return false
        }
        return group.withTable(database: targetDatabase, hash: target.hash) { table in
            if !replace && table.lookupForWrite(target, now: ctx.now) != nil { return false }
            table.replaceAsNew(target, entry, now: ctx.now)
            ctx.server.notify(.generic, "copy_to", target.bytes, database: targetDatabase)
            return true
        }
    }
    if copied { ctx.noteDirty() }
    ctx.out.integer(copied ? 1 : 0)
}

func moveCommand(_ ctx: CommandContext) throws(CommandError) {
    let targetDatabase = try ctx.databaseIndex(2)
    guard targetDatabase != ctx.database else { throw .sameObject }
    let key = ctx.args.key(1)
    let moved = ctx.store.withKeys([(ctx.database, key.hash), (targetDatabase, key.hash)], exclusive: true) {
        group -> Bool in
        let exists = group.withTable(database: ctx.database, hash: key.hash) {
            $0.lookupForWrite(key, now: ctx.now) != nil
        }
        guard exists else { return false }
        let taken = group.withTable(database: targetDatabase, hash: key.hash) {
            $0.lookupForWrite(key, now: ctx.now) != nil
        }
        guard !taken else { return false }
        guard let entry = group.withTable(database: ctx.database, hash: key.hash, { $0.remove(key) }) else {
            return false
        }
        group.withTable(database: targetDatabase, hash: key.hash) { $0.set(key, entry, now: ctx.now) }
        ctx.notify(.generic, "move_from", key)
        ctx.server.notify(.generic, "move_to", key.bytes, database: targetDatabase)
        return true
    }
    if moved { ctx.noteDirty() }
    ctx.out.integer(moved ? 1 : 0)
}

func dbsizeCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.integer(ctx.store.count(database: ctx.database))
}

func flushdbCommand(_ ctx: CommandContext) throws(CommandError) {
    try checkFlushArguments(ctx)
    ctx.noteDirty(ctx.store.flush(database: ctx.database))
    ctx.server.invalidateAllTracked()
    ctx.out.ok()
}

func flushallCommand(_ ctx: CommandContext) throws(CommandError) {
    try checkFlushArguments(ctx)
    ctx.store.flushAll()
    ctx.server.invalidateAllTracked()
    ctx.noteDirty()
    // As Redis: with saving on, persist the empty dataset at once so a restart can't bring the keys back.
    // Not while shards are held (inside EXEC): after the command, or after its transaction.
    if !ctx.server.config.current.save.isEmpty {
        let server = ctx.server
        ctx.client.afterLocksReleased { try? server.snapshots.saveNow(reason: "FLUSHALL") }
    }
    ctx.out.ok()
}

func swapdbCommand(_ ctx: CommandContext) throws(CommandError) {
    guard let first = parseInt64(ctx.args[1]) else { throw .invalidFirstDB }
    guard let second = parseInt64(ctx.args[2]) else { throw .invalidSecondDB }
    let count = Int64(ctx.store.databaseCount)
    guard first >= 0, first < count, second >= 0, second < count else { throw .dbIndexOutOfRange }
    ctx.store.swapDatabases(Int(first), Int(second))
    ctx.noteDirty()
    ctx.out.ok()
}

// MARK: - The table: data that points at the handlers

let keyCommands: [Command] = [
    Command(
        "del", arity: -2, flags: [.write], keys: (1, -1, 1), group: "generic",
        summary: "Deletes one or more keys.", complexity: "O(N)",
        handler: delCommand),
    Command(
        "unlink", arity: -2, flags: [.write, .fast], keys: (1, -1, 1), group: "generic",
        summary: "Asynchronously deletes one or more keys.", since: "4.0.0", complexity: "O(N)",
        handler: unlinkCommand),
    Command(
        "exists", arity: -2, flags: [.readonly, .fast], keys: (1, -1, 1), group: "generic",
        summary: "Determines whether one or more keys exist.", complexity: "O(N)",
        handler: existsCommand),
    Command(
        "touch", arity: -2, flags: [.readonly, .fast], keys: (1, -1, 1), group: "generic",
        summary:
            "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        since: "3.2.1", complexity: "O(N)",
        handler: touchCommand),
    Command(
        "type", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "generic",
        summary: "Determines the type of value stored at a key.",
        handler: typeCommand),
    Command(
        "keys", arity: 2, flags: [.readonly], group: "generic",
        summary: "Returns all key names that match a pattern.", complexity: "O(N)",
        handler: keysCommand),
    Command(
        "scan", arity: -2, flags: [.readonly], group: "generic",
        summary: "Iterates over the key names in the database.", since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration.",
        handler: scanCommand),
    Command(
        "randomkey", arity: 1, flags: [.readonly], group: "generic",
        summary: "Returns a random key name from the database.",
        handler: randomkeyCommand),
    Command(
        "rename", arity: 3, flags: [.write], keys: (1, 2, 1), group: "generic",
        summary: "Renames a key and overwrites the destination.",
        handler: renameCommand),
    Command(
        "renamenx", arity: 3, flags: [.write, .fast], keys: (1, 2, 1), group: "generic",
        summary: "Renames a key only when the target key name doesn't exist.",
        handler: renamenxCommand),
    Command(
        "copy", arity: -3, flags: [.write, .denyOOM], keys: (1, 2, 1), group: "generic",
        summary: "Copies the value of a key to a new key.", since: "6.2.0", complexity: "O(N)",
        handler: copyCommand),
    Command(
        "move", arity: 3, flags: [.write, .fast], keys: (1, 1, 1), group: "generic",
        summary: "Moves a key to another database.",
        handler: moveCommand),
    Command(
        "dbsize", arity: 1, flags: [.readonly, .fast], group: "server",
        summary: "Returns the number of keys in the database.",
        handler: dbsizeCommand),
    Command(
        "flushdb", arity: -1, flags: [.write], group: "server",
        summary: "Removes all keys from the current database.", complexity: "O(N)",
        handler: flushdbCommand),
    Command(
        "flushall", arity: -1, flags: [.write], group: "server",
        summary: "Removes all keys from all databases.", complexity: "O(N)",
        handler: flushallCommand),
    Command(
        "swapdb", arity: 3, flags: [.write, .fast], group: "server",
        summary: "Swaps two Redis databases.", since: "4.0.0", complexity: "O(N)",
        handler: swapdbCommand),
]

/// FLUSHDB and FLUSHALL take an optional ASYNC or SYNC.
private func checkFlushArguments(_ ctx: CommandContext) throws(CommandError) {
    if ctx.args.count > 2 || (ctx.args.count == 2 && !ctx.args.matches(1, "ASYNC") && !ctx.args.matches(1, "SYNC")) {
        throw .syntax
    }
}
