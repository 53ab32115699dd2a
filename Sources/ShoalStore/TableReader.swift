/// What a reader may do with a shard table: look keys up and read them, never change them. `ShardTable`
/// itself conforms (writers, and snapshots, hold the table), and so does `TableReader`, which is what readers
/// are lent under a shard's read lock. Code that only reads is generic over this protocol and serves both.
public protocol TableReading {
    var count: Int { get }
    var isEmpty: Bool { get }
    var volatileCount: Int { get }
    var usedBytes: Int { get }
    var expiredCount: Int { get }
    var accessPolicy: AccessPolicy { get }
    func find(_ key: KeyView) -> Int?
    func lookup(_ key: KeyView, now: Milliseconds) -> Int?
    func peek(_ key: KeyView, now: Milliseconds) -> Int?
    func touch(at index: Int, now: Milliseconds)
    func accessSlot(at index: Int) -> UInt64
    func memoryUsage(at index: Int) -> Int
    func expiresAt(at index: Int) -> Milliseconds
    func isExpired(at index: Int, now: Milliseconds) -> Bool
    func withKeyBytes<R, E: Error>(at index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R
    func key(at index: Int) -> Key
    func isString(at index: Int) -> Bool
    func asHash(at index: Int) -> HashValue?
    func asSet(at index: Int) -> SetValue?
    func asList(at index: Int) -> ListValue?
    func asSortedSet(at index: Int) -> SortedSetValue?
    func typeName(at index: Int) -> String
    func withStringBytes<R, E: Error>(at index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R
    func value(at index: Int) -> Value
    func entry(at index: Int) -> Entry
    func forEachIndex(_ body: (Int) throws -> Void) rethrows
    func scan(cursor: UInt64, _ body: (Int) -> Void) -> UInt64
    func randomIndex<G: RandomNumberGenerator>(using generator: inout G) -> Int?
    func randomVolatileIndex<G: RandomNumberGenerator>(using generator: inout G) -> Int?
}

extension ShardTable: TableReading {}

/// A shard's table as lent to a reader under the shard's read lock: every call goes through a pointer to the
/// table in place.
///
/// Why not a `borrowing ShardTable` parameter: passing `pointer.pointee` to one makes Swift copy the struct, a
/// retain and release of each of its arrays on every read command (2.3% of a GET profile at pipeline 16); and
/// borrowing through an `inout` access instead is, to the language and to ThreadSanitizer, a modification by
/// every concurrent reader. A call through the pointer is neither.
public struct TableReader: TableReading {
    let table: UnsafePointer<ShardTable>

    init(_ table: UnsafePointer<ShardTable>) { self.table = table }

    /// A copy of the table (O(1), copy-on-write): what a snapshot keeps after the lock is released.
    public func copy() -> ShardTable { table.pointee }

    func recomputedUsedBytes() -> Int { table.pointee.recomputedUsedBytes() }

    public var count: Int { table.pointee.count }
    public var isEmpty: Bool { table.pointee.isEmpty }
    public var volatileCount: Int { table.pointee.volatileCount }
    public var usedBytes: Int { table.pointee.usedBytes }
    public var expiredCount: Int { table.pointee.expiredCount }
    public var accessPolicy: AccessPolicy { table.pointee.accessPolicy }
    public func find(_ key: KeyView) -> Int? { table.pointee.find(key) }
    public func lookup(_ key: KeyView, now: Milliseconds) -> Int? { table.pointee.lookup(key, now: now) }
    public func peek(_ key: KeyView, now: Milliseconds) -> Int? { table.pointee.peek(key, now: now) }
    public func touch(at index: Int, now: Milliseconds) { table.pointee.touch(at: index, now: now) }
    public func accessSlot(at index: Int) -> UInt64 { table.pointee.accessSlot(at: index) }
    public func memoryUsage(at index: Int) -> Int { table.pointee.memoryUsage(at: index) }
    public func expiresAt(at index: Int) -> Milliseconds { table.pointee.expiresAt(at: index) }
    public func isExpired(at index: Int, now: Milliseconds) -> Bool { table.pointee.isExpired(at: index, now: now) }
    public func key(at index: Int) -> Key { table.pointee.key(at: index) }
    public func isString(at index: Int) -> Bool { table.pointee.isString(at: index) }
    public func typeName(at index: Int) -> String { table.pointee.typeName(at: index) }
    public func asHash(at index: Int) -> HashValue? { table.pointee.asHash(at: index) }
    public func asSet(at index: Int) -> SetValue? { table.pointee.asSet(at: index) }
    public func asList(at index: Int) -> ListValue? { table.pointee.asList(at: index) }
    public func asSortedSet(at index: Int) -> SortedSetValue? { table.pointee.asSortedSet(at: index) }
    public func value(at index: Int) -> Value { table.pointee.value(at: index) }
    public func entry(at index: Int) -> Entry { table.pointee.entry(at: index) }

    @inline(__always)
    public func withKeyBytes<R, E: Error>(at index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R
    {
        try table.pointee.withKeyBytes(at: index, body)
    }

    @inline(__always)
    public func withStringBytes<R, E: Error>(
        at index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(table.pointee.stringBytesInPlace(at: index))
    }

    public func forEachIndex(_ body: (Int) throws -> Void) rethrows { try table.pointee.forEachIndex(body) }
    public func scan(cursor: UInt64, _ body: (Int) -> Void) -> UInt64 { table.pointee.scan(cursor: cursor, body) }

    @inline(__always)
    public func randomIndex<G: RandomNumberGenerator>(using generator: inout G) -> Int? {
        table.pointee.randomIndex(using: &generator)
    }

    @inline(__always)
    public func randomVolatileIndex<G: RandomNumberGenerator>(using generator: inout G) -> Int? {
        table.pointee.randomVolatileIndex(using: &generator)
    }
}
