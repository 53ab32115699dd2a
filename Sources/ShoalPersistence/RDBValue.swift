import ShoalStore

/// Redis's RDB value encoding, both ways, for DUMP/RESTORE and for importing redis-server's dump.rdb
/// (`--import-rdb`). Written from the RDB format as Redis documents and writes it (README: Moving in from Redis):
/// lengths, strings (raw, integer-encoded, LZF-compressed) and every value type Redis 6.x and 7.x write for
/// strings, lists, sets, sorted sets and hashes, including their compact blobs (ziplist, listpack, intset,
/// zipmap, quicklist). Streams and module values have no Shoal type: they are reported, not guessed at.
public enum RDB {
    /// The RDB version Shoal writes in DUMP payloads: Redis 7.0's.
    public static let version: UInt16 = 10
    /// The newest version Shoal reads (Redis 7.4's): every value type Shoal has is encoded the same way up to it.
    public static let newestReadable: UInt16 = 12

    /// Value type bytes (rdb.h's RDB_TYPE_*).
    public enum ValueType: UInt8 {
        case string = 0, list = 1, set = 2, zset = 3, hash = 4, zset2 = 5, module = 6, module2 = 7
        case hashZipmap = 9, listZiplist = 10, setIntset = 11, zsetZiplist = 12, hashZiplist = 13
        case listQuicklist = 14, streamListpacks = 15, hashListpack = 16, zsetListpack = 17
        case listQuicklist2 = 18, streamListpacks2 = 19, setListpack = 20, streamListpacks3 = 21

        var name: String {
            switch self {
            case .module, .module2: return "a module value"
            case .streamListpacks, .streamListpacks2, .streamListpacks3: return "a stream"
            default: return "type \(rawValue)"
            }
        }
    }
}

/// A value that can't be decoded: the reason, for RESTORE's "Bad data format" and the importer's error.
public struct RDBError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - Reading

/// A cursor over RDB bytes.
public struct RDBReader {
    let bytes: UnsafeRawBufferPointer
    public private(set) var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public var isAtEnd: Bool { offset >= bytes.count }

    mutating func byte() throws(RDBError) -> UInt8 {
        guard offset < bytes.count else { throw RDBError("truncated at byte \(offset)") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func take(_ count: Int) throws(RDBError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= bytes.count - offset else { throw RDBError("truncated at byte \(offset)") }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    mutating func littleEndian<T: FixedWidthInteger>(_ type: T.Type) throws(RDBError) -> T {
        let raw = try take(MemoryLayout<T>.size)
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }

    mutating func bigEndian<T: FixedWidthInteger>(_ type: T.Type) throws(RDBError) -> T {
        let raw = try take(MemoryLayout<T>.size)
        return T(bigEndian: raw.loadUnaligned(as: T.self))
    }

    /// A length, or (`encoded`) one of the special string encodings 0–3 of a `11xxxxxx` byte.
    mutating func length() throws(RDBError) -> (value: UInt64, encoded: Bool) {
        let first = try byte()
        switch first >> 6 {
        case 0: return (UInt64(first & 0x3F), false)
        case 1: return (UInt64(first & 0x3F) << 8 | UInt64(try byte()), false)
        case 2:
            if first == 0x80 { return (UInt64(try bigEndian(UInt32.self)), false) }
            if first == 0x81 { return (try bigEndian(UInt64.self), false) }
            throw RDBError("bad length byte 0x\(String(first, radix: 16)) at \(offset - 1)")
        default: return (UInt64(first & 0x3F), true)
        }
    }

    /// A length that must be a plain count, bounded by what is left (each item takes at least a byte).
    mutating func count() throws(RDBError) -> Int {
        let (value, encoded) = try length()
        guard !encoded, value <= UInt64(bytes.count - offset) else { throw RDBError("bad count at \(offset)") }
        return Int(value)
    }

    /// A string: raw, an integer (its decimal text), or LZF-compressed.
    public mutating func string() throws(RDBError) -> [UInt8] {
        let (value, encoded) = try length()
        guard encoded else {
            guard value <= UInt64(bytes.count - offset) else { throw RDBError("truncated string at \(offset)") }
            return Array(try take(Int(value)))
        }
        switch value {
        case 0: return Array(String(Int8(bitPattern: try byte())).utf8)
        case 1: return Array(String(try littleEndian(Int16.self)).utf8)
        case 2: return Array(String(try littleEndian(Int32.self)).utf8)
        case 3:
            let compressed = try count()
            let (length, lengthEncoded) = try self.length()
            guard !lengthEncoded, length <= 1 << 32 else { throw RDBError("bad LZF length at \(offset)") }
            return try lzfDecompress(try take(compressed), length: Int(length))
        default: throw RDBError("unknown string encoding \(value) at \(offset)")
        }
    }

    /// A sorted set score of RDB_TYPE_ZSET: a length byte (253 nan, 254 +inf, 255 -inf) and the decimal text.
    mutating func textDouble() throws(RDBError) -> Double {
        let length = try byte()
        switch length {
        case 253: return .nan
        case 254: return .infinity
        case 255: return -.infinity
        default:
            let text = String(decoding: try take(Int(length)), as: UTF8.self)
            guard let value = Double(text) else { throw RDBError("bad score '\(text)'") }
            return value
        }
    }

    mutating func binaryDouble() throws(RDBError) -> Double { Double(bitPattern: try littleEndian(UInt64.self)) }
}

/// LZF (Marc Lehmann's format, as Redis's lzf_d.c reads it): literal runs `000LLLLL` of L+1 bytes, and
/// back-references `LLLooooo oooooooo` (length L+2, L=7 means a further length byte) to offset o+1 back.
func lzfDecompress(_ input: UnsafeRawBufferPointer, length: Int) throws(RDBError) -> [UInt8] {
    var output: [UInt8] = []
    output.reserveCapacity(length)
    var position = 0
    while position < input.count {
        let control = Int(input[position])
        position += 1
        if control < 32 {
            let run = control + 1
            guard position + run <= input.count else { throw RDBError("LZF: literal run past the input") }
            output.append(contentsOf: input[position..<(position + run)])
            position += run
        } else {
            var run = control >> 5
            if run == 7 {
                guard position < input.count else { throw RDBError("LZF: truncated back-reference") }
                run += Int(input[position])
                position += 1
            }
            guard position < input.count else { throw RDBError("LZF: truncated back-reference") }
            let back = ((control & 0x1F) << 8 | Int(input[position])) + 1
            position += 1
            guard back <= output.count else { throw RDBError("LZF: back-reference before the start") }
            let start = output.count - back
            for step in 0..<(run + 2) { output.append(output[start + step]) }
        }
        guard output.count <= length else { throw RDBError("LZF: longer than announced") }
    }
    guard output.count == length else { throw RDBError("LZF: \(output.count) bytes, \(length) announced") }
    return output
}

// MARK: - Compact blobs

/// `Array.withUnsafeBytes` for a body with a typed error (the standard one only rethrows `any Error`).
func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(RDBError) -> R) throws(RDBError) -> R {
    let outcome: Result<R, RDBError> = bytes.withUnsafeBytes { raw in
        do throws(RDBError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try outcome.get()
}

enum Blob {
    /// The entries of a ziplist (Redis ≤ 6): strings and integers as their decimal text.
    static func ziplist(_ blob: [UInt8]) throws(RDBError) -> [[UInt8]] {
        try withBytes(blob) { raw throws(RDBError) -> [[UInt8]] in
            var reader = RDBReader(raw)
            let total = try reader.littleEndian(UInt32.self)
            guard total == raw.count else { throw RDBError("ziplist: \(total) bytes announced, \(raw.count) held") }
            _ = try reader.littleEndian(UInt32.self)  // tail offset
            _ = try reader.littleEndian(UInt16.self)  // count (saturates at 65535)
            var entries: [[UInt8]] = []
            while true {
                let first = try reader.byte()
                if first == 0xFF { break }
                if first == 0xFE { _ = try reader.take(4) }  // the previous entry's length, 5-byte form
                let encoding = try reader.byte()
                switch encoding >> 6 {
                case 0: entries.append(Array(try reader.take(Int(encoding & 0x3F))))
                case 1: entries.append(Array(try reader.take(Int(encoding & 0x3F) << 8 | Int(try reader.byte()))))
                case 2: entries.append(Array(try reader.take(Int(try reader.bigEndian(UInt32.self)))))
                default:
                    let number: Int64
                    switch encoding {
                    case 0xC0: number = Int64(try reader.littleEndian(Int16.self))
                    case 0xD0: number = Int64(try reader.littleEndian(Int32.self))
                    case 0xE0: number = try reader.littleEndian(Int64.self)
                    case 0xF0:
                        let raw = try reader.take(3)
                        number = Int64(Int32(bitPattern: UInt32(raw[0]) << 8 | UInt32(raw[1]) << 16 | UInt32(raw[2]) << 24) >> 8)
                    case 0xFE: number = Int64(Int8(bitPattern: try reader.byte()))
                    case 0xF1...0xFD: number = Int64(encoding & 0x0F) - 1
                    default: throw RDBError("ziplist: bad entry encoding 0x\(String(encoding, radix: 16))")
                    }
                    entries.append(Array(String(number).utf8))
                }
            }
            return entries
        }
    }

    /// The entries of a listpack (Redis 7): strings and integers as their decimal text.
    static func listpack(_ blob: [UInt8]) throws(RDBError) -> [[UInt8]] {
        try withBytes(blob) { raw throws(RDBError) -> [[UInt8]] in
            var reader = RDBReader(raw)
            let total = try reader.littleEndian(UInt32.self)
            guard total == raw.count else { throw RDBError("listpack: \(total) bytes announced, \(raw.count) held") }
            _ = try reader.littleEndian(UInt16.self)  // count (saturates at 65535)
            var entries: [[UInt8]] = []
            while true {
                let start = reader.offset
                let first = try reader.byte()
                if first == 0xFF { break }
                var number: Int64?
                if first & 0x80 == 0 {
                    number = Int64(first)
                } else if first & 0xC0 == 0x80 {
                    entries.append(Array(try reader.take(Int(first & 0x3F))))
                } else if first & 0xE0 == 0xC0 {
                    let value = Int64(first & 0x1F) << 8 | Int64(try reader.byte())
                    number = value >= 1 << 12 ? value - (1 << 13) : value
                } else if first & 0xF0 == 0xE0 {
                    entries.append(Array(try reader.take(Int(first & 0x0F) << 8 | Int(try reader.byte()))))
                } else {
                    switch first {
                    case 0xF0: entries.append(Array(try reader.take(Int(try reader.littleEndian(UInt32.self)))))
                    case 0xF1: number = Int64(try reader.littleEndian(Int16.self))
                    case 0xF2:
                        let raw = try reader.take(3)
                        number = Int64(Int32(bitPattern: UInt32(raw[0]) << 8 | UInt32(raw[1]) << 16 | UInt32(raw[2]) << 24) >> 8)
                    case 0xF3: number = Int64(try reader.littleEndian(Int32.self))
                    case 0xF4: number = try reader.littleEndian(Int64.self)
                    default: throw RDBError("listpack: bad entry encoding 0x\(String(first, radix: 16))")
                    }
                }
                if let number { entries.append(Array(String(number).utf8)) }
                let entryLength = reader.offset - start
                _ = try reader.take(entryLength < 128 ? 1 : entryLength < 16384 ? 2 : entryLength < 2_097_152 ? 3 : entryLength < 268_435_456 ? 4 : 5)
            }
            return entries
        }
    }

    /// An intset's members as decimal text.
    static func intset(_ blob: [UInt8]) throws(RDBError) -> [[UInt8]] {
        try withBytes(blob) { raw throws(RDBError) -> [[UInt8]] in
            var reader = RDBReader(raw)
            let width = try reader.littleEndian(UInt32.self)
            let count = Int(try reader.littleEndian(UInt32.self))
            guard [2, 4, 8].contains(width), raw.count == 8 + count * Int(width) else {
                throw RDBError("intset: bad header")
            }
            var members: [[UInt8]] = []
            for _ in 0..<count {
                let value: Int64
                switch width {
                case 2: value = Int64(try reader.littleEndian(Int16.self))
                case 4: value = Int64(try reader.littleEndian(Int32.self))
                default: value = try reader.littleEndian(Int64.self)
                }
                members.append(Array(String(value).utf8))
            }
            return members
        }
    }

    /// A zipmap's (Redis ≤ 2.6 hashes) fields and values, alternating.
    static func zipmap(_ blob: [UInt8]) throws(RDBError) -> [[UInt8]] {
        try withBytes(blob) { raw throws(RDBError) -> [[UInt8]] in
            var reader = RDBReader(raw)
            _ = try reader.byte()  // count (saturates at 254)
            var items: [[UInt8]] = []
            func length() throws(RDBError) -> Int? {
                let first = try reader.byte()
                if first == 0xFF { return nil }
                return first < 254 ? Int(first) : Int(try reader.littleEndian(UInt32.self))
            }
            while let fieldLength = try length() {
                items.append(Array(try reader.take(fieldLength)))
                guard let valueLength = try length() else { throw RDBError("zipmap: a field without a value") }
                let free = Int(try reader.byte())
                items.append(Array(try reader.take(valueLength)))
                _ = try reader.take(free)
            }
            return items
        }
    }
}

// MARK: - Values

extension RDB {
    /// Reads one value of `type` (the byte before it) into a Shoal value, in the compact encoding `limits` allow.
    public static func readValue(_ typeByte: UInt8, from reader: inout RDBReader, limits: EncodingLimits)
        throws(RDBError) -> Value
    {
        guard let type = ValueType(rawValue: typeByte) else { throw RDBError("unknown value type \(typeByte)") }
        func strings(_ count: Int) throws(RDBError) -> [[UInt8]] {
            var items: [[UInt8]] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try reader.string()) }
            return items
        }
        func pairs(_ flat: [[UInt8]]) throws(RDBError) -> [(field: [UInt8], value: [UInt8])] {
            guard flat.count % 2 == 0 else { throw RDBError("an odd number of hash items") }
            return stride(from: 0, to: flat.count, by: 2).map { (flat[$0], flat[$0 + 1]) }
        }
        func scored(_ flat: [[UInt8]]) throws(RDBError) -> [(member: [UInt8], score: Double)] {
            guard flat.count % 2 == 0 else { throw RDBError("an odd number of sorted set items") }
            var entries: [(member: [UInt8], score: Double)] = []
            for index in stride(from: 0, to: flat.count, by: 2) {
                guard let score = Double(String(decoding: flat[index + 1], as: UTF8.self)) else {
                    throw RDBError("a bad score")
                }
                entries.append((flat[index], score))
            }
            return entries
        }
        let value: Value
        switch type {
        case .string:
            return .string(try reader.string())
        case .list:
            value = .list(ListValue(elements: try strings(try reader.count()), limits: limits))
        case .listZiplist:
            value = .list(ListValue(elements: try Blob.ziplist(try reader.string()), limits: limits))
        case .listQuicklist:
            var elements: [[UInt8]] = []
            for _ in 0..<(try reader.count()) { elements += try Blob.ziplist(try reader.string()) }
            value = .list(ListValue(elements: elements, limits: limits))
        case .listQuicklist2:
            var elements: [[UInt8]] = []
            for _ in 0..<(try reader.count()) {
                let container = try reader.count()
                let node = try reader.string()
                switch container {
                case 1: elements.append(node)  // PLAIN: one big element
                case 2: elements += try Blob.listpack(node)
                default: throw RDBError("unknown quicklist container \(container)")
                }
            }
            value = .list(ListValue(elements: elements, limits: limits))
        case .set:
            value = .set(SetValue(members: try strings(try reader.count()), limits: limits))
        case .setIntset:
            value = .set(SetValue(members: try Blob.intset(try reader.string()), limits: limits))
        case .setListpack:
            value = .set(SetValue(members: try Blob.listpack(try reader.string()), limits: limits))
        case .hash:
            value = .hash(HashValue(pairs: try pairs(try strings(2 * (try reader.count()))), limits: limits))
        case .hashZipmap:
            value = .hash(HashValue(pairs: try pairs(try Blob.zipmap(try reader.string())), limits: limits))
        case .hashZiplist:
            value = .hash(HashValue(pairs: try pairs(try Blob.ziplist(try reader.string())), limits: limits))
        case .hashListpack:
            value = .hash(HashValue(pairs: try pairs(try Blob.listpack(try reader.string())), limits: limits))
        case .zset, .zset2:
            var entries: [(member: [UInt8], score: Double)] = []
            for _ in 0..<(try reader.count()) {
                let member = try reader.string()
                let score = type == .zset2 ? try reader.binaryDouble() : try reader.textDouble()
                guard !score.isNaN else { throw RDBError("a NaN score") }
                entries.append((member, score))
            }
            value = .sortedSet(SortedSetValue(entries: entries, limits: limits))
        case .zsetZiplist:
            value = .sortedSet(SortedSetValue(entries: try scored(try Blob.ziplist(try reader.string())), limits: limits))
        case .zsetListpack:
            value = .sortedSet(SortedSetValue(entries: try scored(try Blob.listpack(try reader.string())), limits: limits))
        case .module, .module2, .streamListpacks, .streamListpacks2, .streamListpacks3:
            throw RDBError("\(type.name) (value type \(typeByte)), which Shoal has no type for")
        }
        guard value.elementCount > 0 else { throw RDBError("an empty collection") }
        return value
    }
}

extension Value {
    /// The number of elements of a collection (1 for a string).
    var elementCount: Int {
        switch self {
        case .string: return 1
        case .hash(let hash): return hash.count
        case .set(let set): return set.count
        case .list(let list): return list.count
        case .sortedSet(let zset): return zset.count
        }
    }
}

// MARK: - Writing

/// Builds RDB bytes.
public struct RDBWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func append(_ byte: UInt8) { bytes.append(byte) }

    public mutating func appendLength(_ value: Int) {
        switch value {
        case ..<64: bytes.append(UInt8(value))
        case ..<16384: bytes += [0x40 | UInt8(value >> 8), UInt8(value & 0xFF)]
        case ...Int(UInt32.max): bytes.append(0x80); appendBigEndian(UInt32(value))
        default: bytes.append(0x81); appendBigEndian(UInt64(value))
        }
    }

    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes += $0 }
    }

    public mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    /// A string, as an 8/16/32-bit integer when it is one in canonical form (as Redis saves them), else raw.
    public mutating func appendString(_ string: UnsafeRawBufferPointer) {
        if string.count <= 11, let number = canonicalInteger(string) {
            if let small = Int8(exactly: number) {
                bytes += [0xC0, UInt8(bitPattern: small)]
                return
            }
            if let medium = Int16(exactly: number) {
                bytes.append(0xC1)
                appendLittleEndian(medium)
                return
            }
            if let large = Int32(exactly: number) {
                bytes.append(0xC2)
                appendLittleEndian(large)
                return
            }
        }
        appendLength(string.count)
        bytes += string
    }

    public mutating func appendString(_ string: [UInt8]) { string.withUnsafeBytes { appendString($0) } }

    /// Appends the value's type byte and its encoding: strings as type 0, and collections in the plain types
    /// (1 list, 2 set, 5 sorted set with binary scores, 4 hash), which every Redis from 4.0 on loads.
    public mutating func appendValue(_ value: Value) {
        switch value {
        case .string(let string):
            append(RDB.ValueType.string.rawValue)
            appendString(string)
        case .list(let list):
            append(RDB.ValueType.list.rawValue)
            appendLength(list.count)
            list.forEach { _, element in
                appendString(element)
                return true
            }
        case .set(let set):
            append(RDB.ValueType.set.rawValue)
            appendLength(set.count)
            set.forEach { appendString($0) }
        case .sortedSet(let zset):
            append(RDB.ValueType.zset2.rawValue)
            appendLength(zset.count)
            zset.forEach(from: 0) { _, member, score in
                appendString(member)
                appendLittleEndian(score.bitPattern)
                return true
            }
        case .hash(let hash):
            append(RDB.ValueType.hash.rawValue)
            appendLength(hash.count)
            hash.forEach { field, value in
                appendString(field)
                appendString(value)
            }
        }
    }
}

/// The integer a string spells in canonical form (no sign but '-', no leading zeros, no spaces), or nil.
func canonicalInteger(_ bytes: UnsafeRawBufferPointer) -> Int64? {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let value = Int64(text), String(value) == text else {
        return nil
    }
    return value
}
