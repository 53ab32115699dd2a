import RESP
import ShoalPersistence
import ShoalStore

// DUMP and RESTORE with Redis's payload format (RDB value encoding, RDB version, CRC-64: `RDB` in
// ShoalPersistence), so a key moves between redis-server and Shoal in either direction. RESTORE checks in
// Redis 7.0's order: options, BUSYKEY, the TTL, the payload's version and checksum, then its contents.

extension CommandError {
    static let busyKey = CommandError("BUSYKEY Target key name already exists.")
    static let badPayload = CommandError("ERR DUMP payload version or checksum are wrong")
    static let badDataFormat = CommandError("ERR Bad data format")
    static let negativeTTL = CommandError("ERR Invalid TTL value, must be >= 0")
    static let negativeIdle = CommandError("ERR Invalid IDLETIME value, must be >= 0")
    static let badFrequency = CommandError("ERR Invalid FREQ value, must be >= 0 and <= 255")
}

func dumpCommand(_ ctx: CommandContext) throws(CommandError) {
    let key = ctx.args.key(1)
    let value = ctx.store.read(ctx.database, key) { table -> Value? in
        guard let index = table.lookup(key, now: ctx.now) else {
            ctx.noteLookup(hit: false)
            ctx.notify(.keyMiss, "keymiss", key)
            return nil
        }
        ctx.noteLookup(hit: true)
        return table.value(at: index)
    }
    guard let value else {
        ctx.out.null()
        return
    }
    ctx.out.bulk(RDB.dumpPayload(value))
}

func restoreCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    var replace = false
    var absoluteTTL = false
    var idleSeconds: Int64?
    var frequency: Int?
    var index = 4
    while index < args.count {
        let more = index + 1 < args.count
        if args.matches(index, "REPLACE") {
            replace = true
        } else if args.matches(index, "ABSTTL") {
            absoluteTTL = true
        } else if args.matches(index, "IDLETIME"), more, frequency == nil {
            let idle = try args.integer(index + 1)
            guard idle >= 0 else { throw .negativeIdle }
            idleSeconds = idle
            index += 1
        } else if args.matches(index, "FREQ"), more, idleSeconds == nil {
            let value = try args.integer(index + 1)
            guard value >= 0, value <= 255 else { throw .badFrequency }
            frequency = Int(value)
            index += 1
        } else {
            throw .syntax
        }
        index += 1
    }
    let key = args.key(1)
    let limits = ctx.limits
    let outcome = try ctx.store.write(ctx.database, key) { table throws(CommandError) -> (created: Bool, deleted: Bool) in
        let existing = table.lookupForWrite(key, now: ctx.now)
        if !replace && existing != nil { throw .busyKey }
        var ttl = try args.integer(2)
        guard ttl >= 0 else { throw .negativeTTL }
        let value: Value
        do throws(RDB.PayloadError) { value = try RDB.restorePayload(args[3], limits: limits) } catch {
            switch error {
            case .versionOrChecksum: throw .badPayload
            case .badFormat: throw .badDataFormat
            }
        }
        if ttl > 0 && !absoluteTTL {
            let (sum, overflow) = ttl.addingReportingOverflow(ctx.now)
            ttl = overflow ? .max : sum
        }
        if let existing { table.remove(at: existing) }
        if ttl > 0 && ttl <= ctx.now { return (false, existing != nil) }  // already expired: nothing is created
        let created = table.insert(key, value: value, expiresAt: ttl, now: ctx.now)
        table.restoreAccess(at: created, idleSeconds: idleSeconds, frequency: frequency, now: ctx.now)
        return (true, existing != nil)
    }
    if outcome.created {
        ctx.noteDirty()
        ctx.notify(.generic, "restore", keyAt: 1)
    } else if outcome.deleted {
        ctx.noteDirty()
        ctx.notify(.generic, "del", keyAt: 1)
    }
    ctx.out.ok()
}

let dumpCommands: [Command] = [
    Command(
        "dump", arity: 2, flags: [.readonly], keys: (1, 1, 1), group: "generic",
        summary: "Returns a serialized representation of the value stored at a key.", since: "2.6.0",
        complexity: "O(1) to access the key and additional O(N*M) to serialize it", handler: dumpCommand),
    Command(
        "restore", arity: -4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "generic",
        summary: "Creates a key from the serialized representation of a value.", since: "2.6.0",
        complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value",
        handler: restoreCommand),
]
