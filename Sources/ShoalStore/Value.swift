/// What a key holds. Lists and sorted sets become new cases; the snapshot format has a record type for each
/// (docs/snapshot-format.md).
public enum Value: Sendable, Equatable {
    case string([UInt8])
    case hash(HashValue)
    case set(SetValue)
    case list(ListValue)
    case sortedSet(SortedSetValue)

    /// The name `TYPE` reports.
    public var typeName: String {
        switch self {
        case .string: return "string"
        case .hash: return "hash"
        case .set: return "set"
        case .list: return "list"
        case .sortedSet: return "zset"
        }
    }

    /// What OBJECT ENCODING reports for a collection (strings are decided from their bytes by the caller).
    public var encodingName: String? {
        switch self {
        case .string: return nil
        case .hash(let hash): return hash.encodingName
        case .set(let set): return set.encodingName
        case .list(let list): return list.encodingName
        case .sortedSet(let zset): return zset.encodingName
        }
    }
}

extension HashValue: Equatable {
    /// The same fields with the same values, whatever the encodings and orders.
    public static func == (lhs: HashValue, rhs: HashValue) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var equal = true
        lhs.forEach { field, value in
            if equal { equal = rhs.withValue(field) { $0.map { $0.elementsEqual(value) } ?? false } }
        }
        return equal
    }
}

extension SetValue: Equatable {
    /// The same members, whatever the encodings and orders.
    public static func == (lhs: SetValue, rhs: SetValue) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var equal = true
        lhs.forEach { member in if equal { equal = rhs.contains(member) } }
        return equal
    }
}

extension SortedSetValue: Equatable {
    public static func == (lhs: SortedSetValue, rhs: SortedSetValue) -> Bool {
        let left = lhs.entries
        let right = rhs.entries
        return left.count == right.count && zip(left, right).allSatisfy { $0.member == $1.member && $0.score == $1.score }
    }
}

extension ListValue: Equatable {
    public static func == (lhs: ListValue, rhs: ListValue) -> Bool { lhs.elements == rhs.elements }
}

/// Milliseconds since the Unix epoch, the unit of every expiry deadline in the store.
public typealias Milliseconds = Int64

/// A key's record: its value and its absolute deadline (0 = no expiry).
public struct Entry: Sendable, Equatable {
    public var value: Value
    public var expiresAt: Milliseconds

    public init(value: Value, expiresAt: Milliseconds = 0) {
        self.value = value
        self.expiresAt = expiresAt
    }

    @inline(__always)
    public func isExpired(at now: Milliseconds) -> Bool { expiresAt != 0 && expiresAt <= now }
}
