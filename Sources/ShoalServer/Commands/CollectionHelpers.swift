import RESP
import ShoalStore

/// What the hash and set commands share: how to find their type in a table and change it in place.
protocol StoredCollection {
    var count: Int { get }
    /// The value as a key holds it.
    var stored: Value { get }
    /// The collection at `index`, or nil when the key holds another type.
    static func find(in table: some TableReading, at index: Int) -> Self?
    /// Changes the collection at `index` in place; nil when the key holds another type.
    static func modify<R, E: Error>(
        in table: inout ShardTable, at index: Int, _ body: (inout Self) throws(E) -> R
    ) throws(E) -> R?
}

extension HashValue: StoredCollection {
    var stored: Value { .hash(self) }
    static func find(in table: some TableReading, at index: Int) -> HashValue? { table.asHash(at: index) }
    static func modify<R, E: Error>(
        in table: inout ShardTable, at index: Int, _ body: (inout HashValue) throws(E) -> R
    ) throws(E) -> R? {
        try table.modifyHash(at: index, body)
    }
}

extension SetValue: StoredCollection {
    var stored: Value { .set(self) }
    static func find(in table: some TableReading, at index: Int) -> SetValue? { table.asSet(at: index) }
    static func modify<R, E: Error>(
        in table: inout ShardTable, at index: Int, _ body: (inout SetValue) throws(E) -> R
    ) throws(E) -> R? {
        try table.modifySet(at: index, body)
    }
}

extension ListValue: StoredCollection {
    var stored: Value { .list(self) }
    static func find(in table: some TableReading, at index: Int) -> ListValue? { table.asList(at: index) }
    static func modify<R, E: Error>(
        in table: inout ShardTable, at index: Int, _ body: (inout ListValue) throws(E) -> R
    ) throws(E) -> R? {
        try table.modifyList(at: index, body)
    }
}

extension SortedSetValue: StoredCollection {
    var stored: Value { .sortedSet(self) }
    static func find(in table: some TableReading, at index: Int) -> SortedSetValue? { table.asSortedSet(at: index) }
    static func modify<R, E: Error>(
        in table: inout ShardTable, at index: Int, _ body: (inout SortedSetValue) throws(E) -> R
    ) throws(E) -> R? {
        try table.modifySortedSet(at: index, body)
    }
}

extension TableReading {
    /// The collection of type `C` at `index`; WRONGTYPE for any other type.
    func collection<C: StoredCollection>(_ type: C.Type, at index: Int) throws(CommandError) -> C {
        guard let value = C.find(in: self, at: index) else { throw .wrongType }
        return value
    }

    /// What OBJECT ENCODING reports for a collection; nil for a string.
    func collectionEncoding(at index: Int) -> String? {
        asHash(at: index)?.encodingName ?? asSet(at: index)?.encodingName ?? asList(at: index)?.encodingName
            ?? asSortedSet(at: index)?.encodingName
    }
}

extension ShardTable {
    /// Runs `body` on the collection of type `C` at `key` and deletes the key when `body` leaves it empty, as
    /// Redis never keeps an empty collection. A missing key is created with `make()` (and only stored if `body`
    /// put something in it); without `make`, a missing key gives nil. WRONGTYPE for another type.
    mutating func modifyCollection<C: StoredCollection, R>(
        _ key: KeyView, now: Milliseconds, creating make: (() -> C)?, _ body: (inout C) throws(CommandError) -> R
    ) throws(CommandError) -> R? {
        if let index = lookupForWrite(key, now: now) {
            let outcome = try C.modify(in: &self, at: index) { collection throws(CommandError) -> (R, Bool) in
                (try body(&collection), collection.count == 0)
            }
            guard let (result, emptied) = outcome else { throw .wrongType }
            if emptied { remove(at: index) }
            return result
        }
        guard let make else { return nil }
        var collection = make()
        let result = try body(&collection)
        if collection.count > 0 { insert(key, value: collection.stored, now: now) }
        return result
    }
}

extension ShardGroup {
    /// The collection of type `C` at `key` (nil when absent or expired); WRONGTYPE for another type.
    func readCollection<C: StoredCollection>(
        _ type: C.Type, _ database: Int, _ key: KeyView, now: Milliseconds
    ) throws(CommandError) -> C? {
        try readTable(database: database, hash: key.hash) { table throws(CommandError) -> C? in
            guard let index = table.lookup(key, now: now) else { return nil }
            return try table.collection(C.self, at: index)
        }
    }

    /// A STORE command's destination: replaced by `value`, or deleted when the result is empty (nil), as
    /// Redis's SINTERSTORE, ZUNIONSTORE, ZRANGESTORE, GEOSEARCHSTORE and SORT ... STORE all do.
    /// Publishes `event` of class `type` about the destination when stored, `del` when an empty result deleted
    /// it (Redis publishes nothing when there was nothing to delete).
    func store(
        _ value: Value?, at destination: KeyView, database: Int, now: Milliseconds, server: ServerState,
        _ type: KeyspaceEvents, _ event: String
    ) {
        let existed = withTable(database: database, hash: destination.hash) { table -> Bool in
            let index = table.lookupForWrite(destination, now: now)
            if let value {
                // Replaced in place (value and deadline): an overwritten destination is no new key.
                if let index {
                    table.replace(at: index, with: Entry(value: value, expiresAt: 0))
                } else {
                    table.insert(destination, value: value, now: now)
                }
            } else if let index {
                table.remove(at: index)
            }
            return index != nil
        }
        if value != nil {
            server.notify(type, event, destination.bytes, database: database)
        } else if existed {
            server.notify(.generic, "del", destination.bytes, database: database)
        }
    }
}

extension CommandContext {
    /// The encoding thresholds in force (hash-max-listpack-*, set-max-intset-entries).
    var limits: EncodingLimits { client.settings.current.encodingLimits }

    /// Reads the collection of type `C` at argument `keyIndex` under its shard's read lock: `body` gets nil
    /// when the key is absent; WRONGTYPE when it holds another type. Counts a keyspace hit or miss.
    func readCollection<C: StoredCollection, R>(
        _ type: C.Type, key keyIndex: Int = 1, _ body: (C?) throws(CommandError) -> R
    ) throws(CommandError) -> R {
        let key = args.key(keyIndex)
        return try store.read(database, key) { table throws(CommandError) -> R in
            let index = table.lookup(key, now: now)
            noteLookup(hit: index != nil)
            guard let index else {
                notify(.keyMiss, "keymiss", key)
                return try body(nil)
            }
            return try body(try table.collection(C.self, at: index))
        }
    }

    /// `ShardTable.modifyCollection` on the key at argument `keyIndex`, under its shard's write lock.
    func writeCollection<C: StoredCollection, R>(
        key keyIndex: Int = 1, creating make: (() -> C)?, _ body: (inout C) throws(CommandError) -> R
    ) throws(CommandError) -> R? {
        let key = args.key(keyIndex)
        return try store.write(database, key) { table throws(CommandError) -> R? in
            try table.modifyCollection(key, now: now, creating: make, body)
        }
    }
}

/// A member-removal protocol for HDEL, SREM and ZREM.
protocol RemovableMembers: StoredCollection {
    mutating func remove(_ member: UnsafeRawBufferPointer) -> Bool
}

extension HashValue: RemovableMembers {}
extension SetValue: RemovableMembers {}
extension SortedSetValue: RemovableMembers {}

extension CommandContext {
    /// HDEL, SREM, ZREM: removes the members named from argument 2 on; replies how many were there. The key
    /// goes when its last member does.
    func removeMembers<C: RemovableMembers>(
        _ type: C.Type, notifying eventType: KeyspaceEvents, _ event: String
    ) throws(CommandError) {
        let args = self.args
        let removed = try writeCollection(creating: nil) { (collection: inout C) throws(CommandError) -> Int in
            var removed = 0
            for index in 2..<args.count where collection.remove(args[index]) { removed += 1 }
            return removed
        } ?? 0
        noteDirty(removed)
        if removed > 0 { notifyCollection(eventType, event, keyAt: 1) }
        out.integer(removed)
    }

    /// The `COUNT n` option, at most once, after `start` (LMPOP, ZMPOP and their blocking forms).
    func optionalCount(from start: Int) throws(CommandError) -> Int? {
        var count: Int?
        var index = start
        while index < args.count {
            guard count == nil, args.matches(index, "COUNT"), index + 1 < args.count else { throw .syntax }
            guard let value = parseInt64(args[index + 1]), value > 0 else { throw .countNotAboveZero }
            count = Int(value)
            index += 2
        }
        return count
    }

    /// The `LIMIT n` option (n >= 0; 0: no limit) from `start` on (SINTERCARD, ZINTERCARD).
    func optionalLimit(from start: Int) throws(CommandError) -> Int {
        var limit = 0
        var index = start
        while index < args.count {
            guard args.matches(index, "LIMIT"), index + 1 < args.count else { throw .syntax }
            guard let value = parseInt64(args[index + 1]), value >= 0 else { throw .limitNegative }
            limit = Int(value)
            index += 2
        }
        return limit
    }

    /// The `numkeys key [key ...]` at `start`: the keys' end (exclusive), with Redis 7.0's LMPOP/ZMPOP texts.
    func numkeysEnd(at start: Int) throws(CommandError) -> Int {
        guard let numkeys = parseInt64(args[start]), numkeys > 0 else { throw .numkeysNotPositive }
        guard numkeys <= Int64(args.count - start - 1) else { throw .numkeysTooLarge }
        return start + 1 + Int(numkeys)
    }
}

/// SCAN, HSCAN and SSCAN's `[MATCH pattern] [COUNT count] [TYPE type]`, parsed as Redis's scanGenericCommand.
struct ScanOptions {
    var count = 10
    var pattern: [UInt8]?
    var typeName: String?

    init(_ args: Arguments, from start: Int, allowType: Bool) throws(CommandError) {
        var index = start
        while index < args.count {
            guard index + 1 < args.count else { throw .syntax }
            if args.matches(index, "COUNT") {
                let value = try args.integer(index + 1)
                guard value >= 1 else { throw .syntax }
                count = Int(min(value, Int64(Int32.max)))
            } else if args.matches(index, "MATCH") {
                pattern = args.bytes(index + 1)
                if pattern == [UInt8(ascii: "*")] { pattern = nil }
            } else if allowType, args.matches(index, "TYPE") {
                typeName = args.lowercased(index + 1)
            } else {
                throw .syntax
            }
            index += 2
        }
    }

    func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let pattern else { return true }
        return globMatch(pattern, Array(bytes))
    }
}

extension CommandContext {
    /// HSCAN and SSCAN after the cursor: a missing key is an empty scan (before any option is checked, as in
    /// Redis); else options from argument 3, then `step` (one cursor step, appending what it found) until
    /// COUNT items are found, the walk ends or ten times COUNT steps were taken (scanGenericCommand's bound).
    func replyScan(
        _ cursor: UInt64, _ step: ((UInt64, ScanOptions, inout [[UInt8]]) -> UInt64)?
    ) throws(CommandError) {
        var items: [[UInt8]] = []
        var next: UInt64 = 0
        if let step {
            let options = try ScanOptions(args, from: 3, allowType: false)
            next = cursor
            var budget = options.count * 10
            repeat {
                next = step(next, options, &items)
                budget -= 1
            } while next != 0 && budget > 0 && items.count < options.count
        }
        out.arrayHeader(2)
        out.bulk(String(next))
        out.bulkArray(items)
    }
}

/// A SCAN-family cursor (Redis's parseScanCursorOrReply: an unsigned decimal).
func scanCursor(_ args: Arguments, _ index: Int) throws(CommandError) -> UInt64 {
    guard let cursor = UInt64(args.string(index)) else { throw .invalidCursor }
    return cursor
}

/// HRANDFIELD and SRANDMEMBER's count: negative means "with repeats", as Redis.
struct RandomCount {
    let count: Int
    let unique: Bool

    init(unique count: Int) {
        self.count = count
        unique = true
    }

    /// Redis's getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX).
    init(_ args: Arguments, _ index: Int) throws(CommandError) {
        let value = try args.integer(index)
        guard value != Int64.min else { throw .outOfRange(min: -Int64.max, max: Int64.max) }
        count = Int(value.magnitude)
        unique = value >= 0
    }
}
