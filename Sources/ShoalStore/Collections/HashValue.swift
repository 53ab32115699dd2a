/// When small collections leave their compact encoding: Redis 7.0's `hash-max-listpack-entries`,
/// `hash-max-listpack-value` and `set-max-intset-entries`, with its defaults.
public struct EncodingLimits: Sendable, Equatable {
    public var hashMaxListpackEntries: Int
    public var hashMaxListpackValue: Int
    public var setMaxIntsetEntries: Int
    /// `list-max-listpack-size`: a list chunk's limit, elements when positive, -1...-5 for 4...64 KB.
    public var listMaxListpackSize: Int
    public var zsetMaxListpackEntries: Int
    public var zsetMaxListpackValue: Int

    public init(
        hashMaxListpackEntries: Int = 512, hashMaxListpackValue: Int = 64, setMaxIntsetEntries: Int = 512,
        listMaxListpackSize: Int = -2, zsetMaxListpackEntries: Int = 128, zsetMaxListpackValue: Int = 64
    ) {
        self.zsetMaxListpackEntries = zsetMaxListpackEntries
        self.zsetMaxListpackValue = zsetMaxListpackValue
        self.hashMaxListpackEntries = hashMaxListpackEntries
        self.hashMaxListpackValue = hashMaxListpackValue
        self.setMaxIntsetEntries = setMaxIntsetEntries
        self.listMaxListpackSize = listMaxListpackSize
    }

    var listChunkLimit: ChunkLimit { ChunkLimit(listMaxListpackSize: listMaxListpackSize) }

    public static let standard = EncodingLimits()
}

/// A hash's fields and values, in Redis 7.0's two encodings: `packed` (listpack: insertion order, linear
/// lookup) while it has at most `hashMaxListpackEntries` fields and no field or value longer than
/// `hashMaxListpackValue`, then `table` for good (Redis never converts back either).
public enum HashValue: Sendable {
    case packed(PackedList)
    case table(FieldMap)

    public init() { self = .packed(PackedList()) }

    /// How many fields.
    public var count: Int {
        switch self {
        case .packed(let list): return list.count / 2
        case .table(let map): return map.count
        }
    }

    /// What OBJECT ENCODING reports.
    public var encodingName: String {
        switch self {
        case .packed: return "listpack"
        case .table: return "hashtable"
        }
    }

    public var allocatedBytes: Int {
        switch self {
        case .packed(let list): return list.allocatedBytes
        case .table(let map): return map.allocatedBytes
        }
    }

    /// Lends the value of `field`, or nil when the hash has no such field.
    public func withValue<R>(_ field: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        switch self {
        case .packed(let list):
            guard let offset = list.find(field, stride: 2) else { return body(nil) }
            let next = list.element(at: offset) { _ in () }.next
            return list.element(at: next) { body($0) }.0
        case .table(let map):
            return map.withValue(field, body)
        }
    }

    public func contains(_ field: UnsafeRawBufferPointer) -> Bool { withValue(field) { $0 != nil } }

    /// Sets `field` to `value`, converting to a table past `limits`. True when the field is new.
    @discardableResult
    public mutating func set(
        _ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, limits: EncodingLimits
    ) -> Bool {
        if case .packed = self,
            field.count > limits.hashMaxListpackValue || value.count > limits.hashMaxListpackValue
        {
            convertToTable()
        }
        switch self {
        case .packed(var list):
            self = Self.placeholder
            if let offset = list.find(field, stride: 2) {
                let next = list.element(at: offset) { _ in () }.next
                list.replace(from: next, removing: 1, with: [value])
                self = .packed(list)
                return false
            }
            list.append(field, value)
            self = list.count / 2 > limits.hashMaxListpackEntries ? .table(Self.table(from: list)) : .packed(list)
            return true
        case .table(var map):
            self = Self.placeholder
            let added = map.set(field, value)
            self = .table(map)
            return added
        }
    }

    /// Stands in while a payload is being changed, so the payload is uniquely referenced (no copy).
    private static let placeholder = HashValue.packed(PackedList())

    /// Removes `field`; false when absent.
    @discardableResult
    public mutating func remove(_ field: UnsafeRawBufferPointer) -> Bool {
        switch self {
        case .packed(var list):
            guard let offset = list.find(field, stride: 2) else { return false }
            self = Self.placeholder
            list.replace(from: offset, removing: 2, with: [])
            self = .packed(list)
            return true
        case .table(var map):
            guard map.contains(field) else { return false }
            self = Self.placeholder
            map.remove(field)
            self = .table(map)
            return true
        }
    }

    /// Calls `body` with each field and value: in insertion order when packed, in table order otherwise.
    public func forEach(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        switch self {
        case .packed(let list):
            var field: UnsafeRawBufferPointer?
            list.forEach { _, element in
                if let pending = field {
                    body(pending, element)
                    field = nil
                } else {
                    field = element
                }
                return true
            }
        case .table(let map):
            map.forEach(body)
        }
    }

    /// One step of HSCAN: a packed hash is returned whole (cursor 0 after it), as Redis does for listpacks.
    public func scan(cursor: UInt64, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) -> UInt64 {
        switch self {
        case .packed:
            forEach(body)
            return 0
        case .table(let map):
            return map.scan(cursor: cursor, body)
        }
    }

    /// Every field and value, owned, in `forEach` order.
    public var pairs: [(field: [UInt8], value: [UInt8])] {
        var pairs: [(field: [UInt8], value: [UInt8])] = []
        pairs.reserveCapacity(count)
        forEach { pairs.append((Array($0), Array($1))) }
        return pairs
    }

    /// A uniformly random field and its value; nil when empty.
    public func randomPair<G: RandomNumberGenerator>(using generator: inout G) -> (field: [UInt8], value: [UInt8])? {
        switch self {
        case .packed:
            let all = pairs
            return all.isEmpty ? nil : all[Int.random(in: 0..<all.count, using: &generator)]
        case .table(let map):
            return map.randomEntry(using: &generator)
        }
    }

    /// Builds a hash from `pairs` (a snapshot's record), choosing the encoding as HSET would.
    public init(pairs: [(field: [UInt8], value: [UInt8])], limits: EncodingLimits) {
        self.init()
        for (field, value) in pairs {
            field.withUnsafeBytes { f in value.withUnsafeBytes { v in _ = set(f, v, limits: limits) } }
        }
    }

    private mutating func convertToTable() {
        if case .packed(let list) = self { self = .table(Self.table(from: list)) }
    }

    private static func table(from list: PackedList) -> FieldMap {
        var map = FieldMap()
        HashValue.packed(list).forEach { map.set($0, $1) }
        return map
    }
}
