import RESP
import ShoalStore

// PFADD, PFCOUNT, PFMERGE and PFDEBUG (Redis's hyperloglog.c) on string values in Redis's own HLL format
// (`HyperLogLog`), so an HLL moved from redis-server by DUMP/RESTORE, GET/SET or a snapshot counts the same.

extension CommandError {
    static let notHyperLogLog = CommandError("WRONGTYPE Key is not a valid HyperLogLog string value.")
    static let corruptHyperLogLog = CommandError("INVALIDOBJ Corrupted HLL object detected")
}

extension CommandContext {
    var hllSparseMaxBytes: Int { client.settings.current.hllSparseMaxBytes }
}

extension TableReading {
    /// The HLL at `index`: WRONGTYPE for another type, Redis's "not a valid HyperLogLog" for a string that
    /// isn't one.
    func hyperLogLog(at index: Int) throws(CommandError) -> HyperLogLog {
        try withString(at: index) { bytes throws(CommandError) -> HyperLogLog in
            guard let hll = HyperLogLog(validating: Array(bytes)) else { throw .notHyperLogLog }
            return hll
        }
    }
}

func pfaddCommand(_ ctx: CommandContext) throws(CommandError) {
    let key = ctx.args.key(1)
    let args = ctx.args
    let limit = ctx.hllSparseMaxBytes
    let updated = try ctx.store.write(ctx.database, key) { table throws(CommandError) -> Int in
        let existing = table.lookupForWrite(key, now: ctx.now)
        var hll = try existing.map { index throws(CommandError) in try table.hyperLogLog(at: index) } ?? HyperLogLog()
        var updated = existing == nil ? 1 : 0
        var corrupt = false
        for position in 2..<max(args.count, 2) {
            switch hll.add(args[position], sparseMaxBytes: limit) {
            case 1: updated += 1
            case -1: corrupt = true
            default: break
            }
            if corrupt { break }
        }
        // Written back only when a register changed: an unchanged key is not touched (WATCH, tracking). As in
        // Redis, registers set before a corrupt opcode was met stay set.
        if updated > 0 { hll.invalidateCache() }
        if updated > 0 { hll.bytes.withUnsafeBytes { table.putString($0, at: existing, key: key, now: ctx.now) } }
        if corrupt { throw .corruptHyperLogLog }
        return updated
    }
    if updated > 0 {
        ctx.noteDirty(updated)
        ctx.notify(.string, "pfadd", keyAt: 1)
    }
    ctx.out.integer(updated > 0 ? 1 : 0)
}

func pfcountCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    guard args.count == 2 else {
        // Several keys: the count of their union, read together.
        let keys = (1..<args.count).map { args.key($0) }
        let registers = try ctx.store.withKeys(database: ctx.database, hashes: keys.map(\.hash), exclusive: false) {
            group throws(CommandError) -> [UInt8] in
            var registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
            for key in keys {
                let hll = try group.readTable(database: ctx.database, hash: key.hash) {
                    table throws(CommandError) -> HyperLogLog? in
                    try table.lookup(key, now: ctx.now).map { index throws(CommandError) in try table.hyperLogLog(at: index) }
                }
                if let hll, !hll.merge(into: &registers) { throw .corruptHyperLogLog }
            }
            return registers
        }
        ctx.out.integer(Int64(bitPattern: HyperLogLog.count(registers: registers)))
        return
    }
    // One key: the cached count when fresh (read lock); else counted and cached, which writes the value, as in
    // Redis (a GET afterwards shows the cache). Inside a read-only group (EVAL_RO) the count isn't cached.
    let key = args.key(1)
    let cached = try ctx.store.read(ctx.database, key) { table throws(CommandError) -> UInt64?? in
        guard let index = table.lookup(key, now: ctx.now) else { return .some(0) }
        return .some(try table.hyperLogLog(at: index).cachedCardinality)
    }
    if let cached = cached ?? nil {
        ctx.out.integer(Int64(bitPattern: cached))
        return
    }
    let count = try ctx.store.canWrite ? countAndCache(ctx, key) : countOnly(ctx, key)
    ctx.out.integer(Int64(bitPattern: count))
}

private func countAndCache(_ ctx: CommandContext, _ key: KeyView) throws(CommandError) -> UInt64 {
    let (count, cached) = try ctx.store.write(ctx.database, key) { table throws(CommandError) -> (UInt64, Bool) in
        guard let index = table.lookupForWrite(key, now: ctx.now) else { return (0, false) }
        var hll = try table.hyperLogLog(at: index)
        if let cached = hll.cachedCardinality { return (cached, false) }
        guard let count = hll.count() else { throw .corruptHyperLogLog }
        hll.cache(count)
        hll.bytes.withUnsafeBytes { table.setString(at: index, $0) }
        return (count, true)
    }
    if cached { ctx.noteDirty() }
    return count
}

private func countOnly(_ ctx: CommandContext, _ key: KeyView) throws(CommandError) -> UInt64 {
    try ctx.store.read(ctx.database, key) { table throws(CommandError) -> UInt64 in
        guard let index = table.lookup(key, now: ctx.now) else { return 0 }
        guard let count = try table.hyperLogLog(at: index).count() else { throw .corruptHyperLogLog }
        return count
    }
}

func pfmergeCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let keys = (1..<args.count).map { args.key($0) }
    let destination = keys[0]
    let limit = ctx.hllSparseMaxBytes
    try ctx.store.withKeys(database: ctx.database, hashes: keys.map(\.hash), exclusive: true) {
        group throws(CommandError) in
        // The destination is a source too (Redis reads argv[1] onward).
        var registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        var dense = false
        for key in keys {
            let hll = try group.readTable(database: ctx.database, hash: key.hash) {
                table throws(CommandError) -> HyperLogLog? in
                try table.lookup(key, now: ctx.now).map { index throws(CommandError) in try table.hyperLogLog(at: index) }
            }
            guard let hll else { continue }
            if !hll.isSparse { dense = true }
            if !hll.merge(into: &registers) { throw .corruptHyperLogLog }
        }
        try group.withTable(database: ctx.database, hash: destination.hash) { table throws(CommandError) in
            let existing = table.lookupForWrite(destination, now: ctx.now)
            var hll = try existing.map { index throws(CommandError) in try table.hyperLogLog(at: index) } ?? HyperLogLog()
            guard hll.store(registers: registers, dense: dense, sparseMaxBytes: limit) else {
                if existing == nil { hll.bytes.withUnsafeBytes { table.insert(destination, string: $0, now: ctx.now) } }
                throw .corruptHyperLogLog
            }
            hll.bytes.withUnsafeBytes { table.putString($0, at: existing, key: destination, now: ctx.now) }
        }
    }
    ctx.noteDirty()
    ctx.notify(.string, "pfadd", keyAt: 1)
    ctx.out.ok()
}

/// PFDEBUG GETREG | DECODE | ENCODING | TODENSE key.
func pfdebugCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let subcommand = args.string(1)
    let key = args.key(2)
    try ctx.store.write(ctx.database, key) { table throws(CommandError) in
        guard let index = table.lookupForWrite(key, now: ctx.now) else {
            throw CommandError("ERR The specified key does not exist")
        }
        var hll = try table.hyperLogLog(at: index)
        let known = ["getreg", "decode", "encoding", "todense"]
        guard known.contains(subcommand.lowercased()) else {
            throw CommandError("ERR Unknown PFDEBUG subcommand '\(subcommand)'")
        }
        guard args.count == 3 else {
            throw CommandError("ERR Wrong number of arguments for the '\(subcommand)' subcommand")
        }
        switch subcommand.lowercased() {
        case "getreg", "todense":
            let converted = hll.isSparse
            guard hll.makeDense() else { throw .corruptHyperLogLog }
            if converted { hll.bytes.withUnsafeBytes { table.setString(at: index, $0) } }
            if subcommand.lowercased() == "todense" {
                ctx.out.integer(converted ? 1 : 0)
            } else {
                let registers = hll.registers
                ctx.out.arrayHeader(registers.count)
                for value in registers { ctx.out.integer(Int(value)) }
            }
        case "decode":
            guard hll.isSparse else { throw CommandError("ERR HLL encoding is not sparse") }
            ctx.out.bulk(hll.sparseDescription)
        default:
            ctx.out.simple(hll.isSparse ? "sparse" : "dense")
        }
    }
}

let hyperLogLogCommands: [Command] = [
    Command(
        "pfadd", arity: -2, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "hyperloglog",
        summary: "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", since: "2.8.9",
        complexity: "O(1) to add every element.", handler: pfaddCommand),
    Command(
        "pfcount", arity: -2, flags: [.readonly], keys: (1, -1, 1), group: "hyperloglog",
        summary: "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
        since: "2.8.9", complexity: "O(1) with a very small average constant time when called with a single key.",
        handler: pfcountCommand),
    Command(
        "pfmerge", arity: -2, flags: [.write, .denyOOM], keys: (1, -1, 1), group: "hyperloglog",
        summary: "Merges one or more HyperLogLog values into a single key.", since: "2.8.9",
        complexity: "O(N) to merge N HyperLogLogs, but with high constant times.", handler: pfmergeCommand),
    Command(
        "pfdebug", arity: 3, flags: [.write, .denyOOM, .admin], keys: (2, 2, 1), group: "hyperloglog",
        summary: "Internal commands for debugging HyperLogLog values.", since: "2.8.9", complexity: "N/A",
        handler: pfdebugCommand),
]
