/// What a key holds. Only strings exist today; hashes, lists, sets and sorted sets become new cases, and the
/// snapshot format already carries a type tag for each record (see docs/snapshot-format.md once written).
public enum Value: Sendable, Equatable {
    case string([UInt8])

    /// The name `TYPE` reports.
    public var typeName: String {
        switch self {
        case .string: return "string"
        }
    }
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
