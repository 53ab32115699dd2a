import ShoalStore

/// The snapshot format, version 2 (version 1 had strings only; its files load unchanged). docs/snapshot-format.md is the prose description; the numbers here are
/// persisted and must never change meaning (a test pins every one of them).
public enum SnapshotFormat {
    /// First 8 bytes of the record stream.
    public static let magic: [UInt8] = Array("SHOALSNP".utf8)
    /// Bumped only for a change old readers cannot understand.
    public static let version: UInt16 = 2
    /// Records are gathered into frames of about this many uncompressed bytes (a record never spans frames).
    /// Small enough that compressing one (LZ4 plus the stream's CRC, ~0.4 ms) is a short stretch of work for
    /// a background save sharing a core with an event loop; LZ4's 64 KB window makes bigger frames compress
    /// barely better.
    public static let targetFrameBytes = 128 << 10

    /// What a record is. For keys, the opcode is the value's type, so a new type (hash, list, set, sorted
    /// set) is a new opcode and every file written before it keeps loading.
    public enum Opcode: UInt8, CaseIterable, Sendable {
        /// `varint database`: the keys that follow belong to this database.
        case database = 0x01
        /// `varint expiresAt (ms, 0 = none)`, `varint keyLength`, key, `varint valueLength`, value.
        case string = 0x02
        /// `varint expiresAt`, `varint keyLength`, key, `varint fields`, then each field and its value as
        /// `varint length, bytes`. Since version 2.
        case hash = 0x03
        /// `varint expiresAt`, `varint keyLength`, key, `varint elements`, then each (head first) as
        /// `varint length, bytes`. Since version 2.
        case list = 0x04
        /// `varint expiresAt`, `varint keyLength`, key, `varint members`, then each as `varint length, bytes`.
        /// Since version 2.
        case set = 0x05
        /// `varint expiresAt`, `varint keyLength`, key, `varint members`, then each (in order) as
        /// `varint length, bytes`, `u64 score` (the double's IEEE 754 bits, little-endian). Since version 2.
        case sortedSet = 0x06
        /// Trailer: `varint keys`, `varint recordBytes`, `u32 crc32` of every stream byte before the crc.
        case end = 0xFF
    }
}

/// A snapshot that can't be written or read. `description` names the file and, when reading, the offset.
public struct SnapshotError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let message: String
    /// Byte offset in the file (compressed) where the problem was found, when known.
    public let fileOffset: Int?
    /// Byte offset in the decompressed record stream, when known.
    public let streamOffset: Int?

    public init(file: String, _ message: String, fileOffset: Int? = nil, streamOffset: Int? = nil) {
        self.file = file
        self.message = message
        self.fileOffset = fileOffset
        self.streamOffset = streamOffset
    }

    public var description: String {
        var text = "\(file): \(message)"
        if let fileOffset { text += " at file offset \(fileOffset)" }
        if let streamOffset { text += " (record stream offset \(streamOffset))" }
        return text
    }
}

// MARK: - Varints (unsigned LEB128)

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        append(UInt8(value))
    }

    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

// MARK: - CRC-32 (IEEE 802.3, as zlib), slicing by 8

enum CRC32 {
    /// Eight 256-entry tables, flattened: table `k` starts at `k * 256`.
    static let table: [UInt32] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            tables[0][index] = crc
        }
        for index in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[slice - 1][index]
                tables[slice][index] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
            }
        }
        return tables.flatMap { $0 }
    }()

    /// Continues a CRC over more bytes (start with 0).
    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = ~crc
        table.withUnsafeBufferPointer { t in
            var index = 0
            let count = bytes.count
            while index + 8 <= count {
                let low =
                    crc
                    ^ (UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16
                        | UInt32(bytes[index + 3]) << 24)
                let high =
                    UInt32(bytes[index + 4]) | UInt32(bytes[index + 5]) << 8 | UInt32(bytes[index + 6]) << 16
                    | UInt32(bytes[index + 7]) << 24
                crc =
                    t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[0 * 256 + Int(high >> 24)]
                index += 8
            }
            while index < count {
                crc = t[Int((crc ^ UInt32(bytes[index])) & 0xFF)] ^ (crc >> 8)
                index += 1
            }
        }
        return ~crc
    }

    static func update(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(crc, $0) }
    }
}
