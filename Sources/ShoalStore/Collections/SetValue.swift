import RESP

/// A set's members, in Redis 7.0's two encodings: `ints` (intset) while every member is an integer in
/// canonical form (`string2ll`: what INCR accepts) and there are at most `setMaxIntsetEntries`, then `table`
/// for good.
public enum SetValue: Sendable {
    case ints(IntSet)
    case table(FieldMap)

    /// An empty set in the encoding Redis's `setTypeCreate` picks for its first member.
    public init(firstMember member: UnsafeRawBufferPointer) {
        self = parseInt64(member) != nil ? .ints(IntSet()) : .table(FieldMap())
    }

    public var count: Int {
        switch self {
        case .ints(let ints): return ints.count
        case .table(let map): return map.count
        }
    }

    public var encodingName: String {
        switch self {
        case .ints: return "intset"
        case .table: return "hashtable"
        }
    }

    public var allocatedBytes: Int {
        switch self {
        case .ints(let ints): return ints.allocatedBytes
        case .table(let map): return map.allocatedBytes
        }
    }

    public func contains(_ member: UnsafeRawBufferPointer) -> Bool {
        switch self {
        case .ints(let ints):
            guard let value = parseInt64(member) else { return false }
            return ints.contains(value)
        case .table(let map):
            return map.contains(member)
        }
    }

    /// Adds `member`, converting to a table for a non-integer or past `limits`. True when it is new.
    @discardableResult
    public mutating func add(_ member: UnsafeRawBufferPointer, limits: EncodingLimits) -> Bool {
        switch self {
        case .ints(var ints):
            guard let value = parseInt64(member) else {
                convertToTable()
                return add(member, limits: limits)
            }
            self = Self.placeholder
            let added = ints.insert(value)
            self = ints.count > limits.setMaxIntsetEntries ? .table(Self.table(from: ints)) : .ints(ints)
            return added
        case .table(var map):
            if map.contains(member) { return false }
            self = Self.placeholder
            map.set(member, UnsafeRawBufferPointer(start: nil, count: 0))
            self = .table(map)
            return true
        }
    }

    /// Removes `member`; false when it was not there.
    @discardableResult
    public mutating func remove(_ member: UnsafeRawBufferPointer) -> Bool {
        switch self {
        case .ints(var ints):
            guard let value = parseInt64(member), ints.contains(value) else { return false }
            self = Self.placeholder
            ints.remove(value)
            self = .ints(ints)
            return true
        case .table(var map):
            guard map.contains(member) else { return false }
            self = Self.placeholder
            map.remove(member)
            self = .table(map)
            return true
        }
    }

    /// Calls `body` with each member: ascending for an intset, table order otherwise.
    public func forEach(_ body: (UnsafeRawBufferPointer) -> Void) {
        switch self {
        case .ints(let ints): ints.forEach { withDecimalBytes($0, body) }
        case .table(let map): map.forEach { member, _ in body(member) }
        }
    }

    /// One step of SSCAN: an intset is returned whole (cursor 0 after it), as Redis does.
    public func scan(cursor: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) -> UInt64 {
        switch self {
        case .ints:
            forEach(body)
            return 0
        case .table(let map):
            return map.scan(cursor: cursor) { member, _ in body(member) }
        }
    }

    /// Every member, owned, in `forEach` order.
    public var members: [[UInt8]] {
        var members: [[UInt8]] = []
        members.reserveCapacity(count)
        forEach { members.append(Array($0)) }
        return members
    }

    /// A uniformly random member; nil when empty.
    public func randomMember<G: RandomNumberGenerator>(using generator: inout G) -> [UInt8]? {
        switch self {
        case .ints(let ints):
            guard ints.count > 0 else { return nil }
            return withDecimalBytes(ints[Int.random(in: 0..<ints.count, using: &generator)]) { Array($0) }
        case .table(let map):
            return map.randomEntry(using: &generator)?.field
        }
    }

    /// Builds a set from `members` (a snapshot's record or a STORE command's result), as SADD would.
    public init(members: [[UInt8]], limits: EncodingLimits) {
        self = .ints(IntSet())
        for member in members { member.withUnsafeBytes { _ = add($0, limits: limits) } }
    }

    private static let placeholder = SetValue.ints(IntSet())

    private mutating func convertToTable() {
        guard case .ints(let ints) = self else { return }
        self = .table(Self.table(from: ints))
    }

    private static func table(from ints: IntSet) -> FieldMap {
        var map = FieldMap()
        ints.forEach { value in withDecimalBytes(value) { _ = map.set($0, UnsafeRawBufferPointer(start: nil, count: 0)) } }
        return map
    }
}
