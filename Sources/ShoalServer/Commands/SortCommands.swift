import RESP
import ShoalStore

// SORT and SORT_RO (Redis 7.0's sort.c) over lists, sets and sorted sets. BY and GET patterns read other keys
// of the database, which no argument names: with a pattern, SORT holds every shard of the database (as Redis,
// single-threaded, sees one instant); without one, only the key's and the STORE destination's.

extension CommandError {
    static let sortScoreNotDouble = CommandError("ERR One or more scores can't be converted into double")
}

private struct SortOptions {
    var by: [UInt8]?
    var noSort = false
    var gets: [[UInt8]] = []
    var offset: Int64 = 0
    var count: Int64 = -1
    var descending = false
    var alpha = false
    var store: Int?
}

private func parseSortOptions(_ args: Arguments, readOnly: Bool) throws(CommandError) -> SortOptions {
    var options = SortOptions()
    var index = 2
    while index < args.count {
        let left = args.count - index - 1
        if args.matches(index, "ASC") {
            options.descending = false
        } else if args.matches(index, "DESC") {
            options.descending = true
        } else if args.matches(index, "ALPHA") {
            options.alpha = true
        } else if args.matches(index, "LIMIT") && left >= 2 {
            options.offset = try args.integer(index + 1)
            options.count = try args.integer(index + 2)
            index += 2
        } else if !readOnly && args.matches(index, "STORE") && left >= 1 {
            options.store = index + 1
            index += 1
        } else if args.matches(index, "BY") && left >= 1 {
            let pattern = args.bytes(index + 1)
            options.by = pattern
            // A pattern without '*' names no key per element: Redis takes it as "don't sort".
            if !pattern.contains(UInt8(ascii: "*")) { options.noSort = true }
            index += 1
        } else if args.matches(index, "GET") && left >= 1 {
            options.gets.append(args.bytes(index + 1))
            index += 1
        } else {
            throw .syntax
        }
        index += 1
    }
    return options
}

/// Redis's lookupKeyByPattern: `#` is the element itself; otherwise the first `*` becomes the element, and a
/// `->field` suffix reads that field of a hash. Nil when the pattern has no `*` or the key is missing or of
/// another type.
private func lookupByPattern(
    _ pattern: [UInt8], element: [UInt8], database: Int, group: ShardGroup, now: Milliseconds, server: ServerState
) -> [UInt8]? {
    if pattern == [UInt8(ascii: "#")] { return element }
    guard let star = pattern.firstIndex(of: UInt8(ascii: "*")) else { return nil }
    var keyEnd = pattern.count
    var field: [UInt8]?
    var search = star + 1
    while search + 1 < pattern.count {
        if pattern[search] == UInt8(ascii: "-") && pattern[search + 1] == UInt8(ascii: ">") {
            if search + 2 < pattern.count {
                keyEnd = search
                field = Array(pattern[(search + 2)...])
            }
            break
        }
        search += 1
    }
    let key = Array(pattern[..<star]) + element + Array(pattern[(star + 1)..<keyEnd])
    return Key(key).withView { view in
        group.readTable(database: database, hash: view.hash) { table -> [UInt8]? in
            guard let index = table.lookup(view, now: now) else {
                server.notify(.keyMiss, "keymiss", view.bytes, database: database)
                return nil
            }
            if let field {
                guard let hash = table.asHash(at: index) else { return nil }
                return field.withUnsafeBytes { name in hash.withValue(name) { $0.map { Array($0) } } }
            }
            return table.isString(at: index) ? table.withStringBytes(at: index) { Array($0) } : nil
        }
    }
}

private func sortGeneric(_ ctx: CommandContext, readOnly: Bool) throws(CommandError) {
    let args = ctx.args
    var options = try parseSortOptions(args, readOnly: readOnly)
    let key = args.key(1)
    let destination = options.store.map { args.key($0) }
    let database = ctx.database
    let limits = ctx.limits
    let usesPatterns = options.by != nil || !options.gets.isEmpty
    // SORT_RO converts a packed sorted set too (Redis 7.0 does), so it write-locks as well, except inside an
    // EXEC that planned it as a read (there it leaves the encoding alone).
    let exclusive = !readOnly || !ctx.store.isHeld
    let body = { (group: ShardGroup) throws(CommandError) -> [[UInt8]?] in
        // The elements, in the collection's own order.
        var elements: [[UInt8]] = []
        var isSortedSet = false
        var isSet = false
        let found = try group.readTable(database: database, hash: key.hash) { table throws(CommandError) -> Bool in
            guard let index = table.lookup(key, now: ctx.now) else {
                ctx.notify(.keyMiss, "keymiss", key)
                return false
            }
            if let list = table.asList(at: index) {
                elements = list.elements
            } else if let set = table.asSet(at: index) {
                elements = set.members
                isSet = true
            } else if let zset = table.asSortedSet(at: index) {
                elements = zset.entries.map(\.member)
                isSortedSet = true
            } else {
                throw .wrongType
            }
            return true
        }
        // Redis 7.0's SORT and SORT_RO convert a packed sorted set they sort ("destructively convert encoded
        // sorted sets for SORT").
        if found && isSortedSet && exclusive {
            group.withTable(database: database, hash: key.hash) { table in
                if let index = table.lookupForWrite(key, now: ctx.now) {
                    _ = table.modifySortedSet(at: index) { $0.convertToTable() }
                }
            }
        }
        // A set has no order of its own: when storing, Redis sorts it anyway (ALPHA), so replicas agree.
        if options.noSort && isSet && destination != nil {
            options.noSort = false
            options.alpha = true
            options.by = nil
        }
        if !options.noSort {
            var keyed: [(element: [UInt8], score: Double, text: [UInt8]?)] = []
            keyed.reserveCapacity(elements.count)
            for element in elements {
                let sortKey = options.by.map {
                    lookupByPattern($0, element: element, database: database, group: group, now: ctx.now, server: ctx.server)
                } ?? element
                var score = 0.0
                if !options.alpha, let sortKey {
                    guard let value = sortKey.withUnsafeBytes({ sortScore($0) }) else {
                        throw .sortScoreNotDouble
                    }
                    score = value
                }
                keyed.append((element, score, sortKey))
            }
            let descending = options.descending
            let alpha = options.alpha
            let byPattern = options.by != nil
            keyed.sort { a, b in
                var order: Int
                if !alpha {
                    order = a.score < b.score ? -1 : a.score > b.score ? 1 : a.element.withUnsafeBytes { x in
                        b.element.withUnsafeBytes { y in compareBytes(x, y) }
                    }
                } else if byPattern {
                    switch (a.text, b.text) {
                    case (nil, nil): order = 0
                    case (nil, _): order = -1
                    case (_, nil): order = 1
                    case (let x?, let y?): order = x.withUnsafeBytes { p in y.withUnsafeBytes { q in compareBytes(p, q) } }
                    }
                } else {
                    order = a.element.withUnsafeBytes { x in b.element.withUnsafeBytes { y in compareBytes(x, y) } }
                }
                return descending ? order > 0 : order < 0
            }
            elements = keyed.map(\.element)
        } else if !isSet && options.descending {
            elements.reverse()  // BY nosort DESC on a list or sorted set: its own order, from the end
        }
        // LIMIT, with Redis's clamping.
        let length = Int64(elements.count)
        var start = max(0, options.offset)
        var end = options.count < 0 ? length - 1 : start + options.count - 1
        if start >= length {
            start = length - 1
            end = length - 2
        }
        if end >= length { end = length - 1 }
        var output: [[UInt8]?] = []
        if start <= end, start >= 0 {
            for element in elements[Int(start)...Int(end)] {
                if options.gets.isEmpty {
                    output.append(element)
                } else {
                    for pattern in options.gets {
                        output.append(
                            lookupByPattern(
                                pattern, element: element, database: database, group: group, now: ctx.now,
                                server: ctx.server))
                    }
                }
            }
        }
        if let destination {
            let stored = output.map { $0 ?? [] }
            group.store(
                stored.isEmpty ? nil : .list(ListValue(elements: stored, limits: limits)), at: destination,
                database: database, now: ctx.now, server: ctx.server, .list, "sortstore")
        }
        return output
    }
    let output: [[UInt8]?]
    if usesPatterns {
        output = try ctx.store.withDatabases([database], exclusive: exclusive, body)
    } else {
        let hashes = [key.hash] + (destination.map { [$0.hash] } ?? [])
        output = try ctx.store.withKeys(database: database, hashes: hashes, exclusive: exclusive, body)
    }
    if destination != nil {
        ctx.noteDirty()
        ctx.out.integer(output.count)
        return
    }
    ctx.out.arrayHeader(output.count)
    for item in output {
        if let item { ctx.out.bulk(item) } else { ctx.out.null() }
    }
}

/// A number SORT can sort by, read as Redis's sortCommandGeneric reads it: C's strtod over the value as a C
/// string (so it stops at a NUL byte), which must end there, without overflow, and not be NaN.
func sortScore(_ bytes: UnsafeRawBufferPointer) -> Double? {
    let (value, consumed, rangeError) = cStrtod(bytes)
    guard consumed == (bytes.firstIndex(of: 0) ?? bytes.count), !rangeError, !value.isNaN else { return nil }
    return value
}

func sortCommand(_ ctx: CommandContext) throws(CommandError) { try sortGeneric(ctx, readOnly: false) }
func sortRoCommand(_ ctx: CommandContext) throws(CommandError) { try sortGeneric(ctx, readOnly: true) }

let sortCommands: [Command] = [
    Command(
        "sort", arity: -2, flags: [.write, .denyOOM, .movableKeys], keys: (1, 1, 1), group: "generic",
        summary: "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
        complexity: "O(N+M*log(M))", handler: sortCommand),
    Command(
        "sort_ro", arity: -2, flags: [.readonly, .movableKeys], keys: (1, 1, 1), group: "generic",
        summary: "Returns the sorted elements of a list, a set, or a sorted set.", since: "7.0.0",
        complexity: "O(N+M*log(M))", handler: sortRoCommand),
]
