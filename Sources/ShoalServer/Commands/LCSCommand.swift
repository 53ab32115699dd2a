import RESP
import ShoalStore

// LCS, the longest common subsequence of two strings (Redis 7.0's lcsCommand in t_string.c), by the classic
// dynamic programme over a table of (len(a)+1) x (len(b)+1) lengths, bounded as Redis bounds it.

extension CommandError {
    static let lcsNotStrings = CommandError("ERR The specified keys must contain string values")
    static let lcsLenAndIdx = CommandError("ERR If you want both the length and indexes, please just use IDX.")
    static let lcsTooMuchMemory = CommandError(
        "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
}

func lcsCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let keys = [args.key(1), args.key(2)]
    // Both read under their shards' locks together, then compared outside them.
    let strings = try ctx.store.withKeys(database: ctx.database, hashes: keys.map(\.hash), exclusive: false) {
        group throws(CommandError) -> [[UInt8]] in
        var strings: [[UInt8]] = []
        for key in keys {
            try group.readTable(database: ctx.database, hash: key.hash) { table throws(CommandError) in
                guard let index = table.lookup(key, now: ctx.now) else { return strings.append([]) }
                guard table.isString(at: index) else { throw .lcsNotStrings }
                table.withStringBytes(at: index) { strings.append(Array($0)) }
            }
        }
        return strings
    }
    var wantLength = false
    var wantIndexes = false
    var withMatchLength = false
    var minimumMatch: Int64 = 0
    var index = 3
    while index < args.count {
        if args.matches(index, "IDX") {
            wantIndexes = true
        } else if args.matches(index, "LEN") {
            wantLength = true
        } else if args.matches(index, "WITHMATCHLEN") {
            withMatchLength = true
        } else if args.matches(index, "MINMATCHLEN"), index + 1 < args.count {
            minimumMatch = max(try args.integer(index + 1), 0)
            index += 1
        } else {
            throw .syntax
        }
        index += 1
    }
    if wantIndexes && wantLength { throw .lcsLenAndIdx }
    let a = strings[0]
    let b = strings[1]
    let columns = b.count + 1
    let (cells, overflow) = (a.count + 1).multipliedReportingOverflow(by: columns)
    guard !overflow, cells.multipliedReportingOverflow(by: 4).partialValue <= ctx.maxBulkLength || cells <= 1 else {
        throw .lcsTooMuchMemory
    }
    // table[i * columns + j]: the LCS length of a[..<i] and b[..<j].
    var table = [UInt32](repeating: 0, count: cells)
    for i in stride(from: 1, through: a.count, by: 1) {
        for j in stride(from: 1, through: b.count, by: 1) {
            table[i * columns + j] =
                a[i - 1] == b[j - 1]
                ? table[(i - 1) * columns + j - 1] + 1 : max(table[(i - 1) * columns + j], table[i * columns + j - 1])
        }
    }
    let total = Int(table[a.count * columns + b.count])
    if wantLength {
        ctx.out.integer(total)
        return
    }
    // Walk back from the end, collecting the common bytes and the matching ranges (last first, as Redis).
    var common = [UInt8](repeating: 0, count: total)
    var remaining = total
    var matches: [(aStart: Int, aEnd: Int, bStart: Int, bEnd: Int)] = []
    var current: (aStart: Int, aEnd: Int, bStart: Int, bEnd: Int)?
    var i = a.count
    var j = b.count
    while i > 0 && j > 0 {
        var emit = false
        if a[i - 1] == b[j - 1] {
            common[remaining - 1] = a[i - 1]
            if var range = current, range.aStart == i, range.bStart == j {
                range.aStart -= 1
                range.bStart -= 1
                current = range
            } else if current == nil {
                current = (i - 1, i - 1, j - 1, j - 1)
            } else {
                emit = true
            }
            if let range = current, range.aStart == 0 || range.bStart == 0 { emit = true }
            remaining -= 1
            i -= 1
            j -= 1
        } else {
            if table[(i - 1) * columns + j] > table[i * columns + j - 1] { i -= 1 } else { j -= 1 }
            emit = current != nil
        }
        if emit, let range = current {
            if minimumMatch == 0 || Int64(range.aEnd - range.aStart + 1) >= minimumMatch { matches.append(range) }
            current = nil
        }
    }
    guard wantIndexes else {
        ctx.out.bulk(common)
        return
    }
    ctx.out.mapHeader(2)
    ctx.out.bulk("matches")
    ctx.out.arrayHeader(matches.count)
    for range in matches {
        ctx.out.arrayHeader(withMatchLength ? 3 : 2)
        ctx.out.arrayHeader(2)
        ctx.out.integer(range.aStart)
        ctx.out.integer(range.aEnd)
        ctx.out.arrayHeader(2)
        ctx.out.integer(range.bStart)
        ctx.out.integer(range.bEnd)
        if withMatchLength { ctx.out.integer(range.aEnd - range.aStart + 1) }
    }
    ctx.out.bulk("len")
    ctx.out.integer(total)
}

let lcsCommands: [Command] = [
    Command(
        "lcs", arity: -3, flags: [.readonly], keys: (1, 2, 1), group: "string",
        summary: "Finds the longest common substring.", since: "7.0.0", complexity: "O(N*M)",
        handler: lcsCommand),
]
