import ShoalPosix
import ShoalStore

#if canImport(Glibc)
    import Glibc
#endif

/// CRC-64 with the Jones polynomial, reflected, no final xor: what Redis puts after DUMP payloads and RDB
/// files (its check value for "123456789" is 0xe9c6d914c4b8d9ca). Table-driven, a byte at a time.
public enum CRC64 {
    static let table: [UInt64] = (0..<256).map { index in
        var crc = UInt64(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x95AC_9329_AC4B_C9B5 : crc >> 1 }
        return crc
    }

    public static func update(_ crc: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var crc = crc
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt64(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { update(0, $0) } }
}

// MARK: - DUMP payloads

extension RDB {
    /// DUMP's payload: the value in RDB encoding, the RDB version (2 bytes) and a CRC-64 of both (8 bytes),
    /// little-endian, as Redis's createDumpPayload lays it out. Redis 7.0 restores it.
    public static func dumpPayload(_ value: Value) -> [UInt8] {
        var writer = RDBWriter()
        writer.appendValue(value)
        writer.appendLittleEndian(version)
        var bytes = writer.bytes
        withUnsafeBytes(of: CRC64.checksum(bytes).littleEndian) { bytes += $0 }
        return bytes
    }

    /// Why a payload can't be restored, with Redis's two texts.
    public enum PayloadError: Error {
        /// "DUMP payload version or checksum are wrong"
        case versionOrChecksum
        /// "Bad data format"
        case badFormat(RDBError)
    }

    /// RESTORE's reading of a payload (Redis's verifyDumpPayload, then rdbLoadObject): the footer's version
    /// and checksum, then one value from the start.
    public static func restorePayload(_ payload: UnsafeRawBufferPointer, limits: EncodingLimits) throws(PayloadError)
        -> Value
    {
        guard payload.count >= 10 else { throw .versionOrChecksum }
        let body = UnsafeRawBufferPointer(rebasing: payload[..<(payload.count - 8)])
        let payloadVersion = UInt16(payload[payload.count - 10]) | UInt16(payload[payload.count - 9]) << 8
        let stored = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: payload.count - 8, as: UInt64.self))
        guard payloadVersion <= newestReadable, CRC64.update(0, body) == stored else { throw .versionOrChecksum }
        // Read as Redis reads it: from the whole payload, footer included, and what follows the value is not
        // looked at (a value that runs into the footer is what Redis would restore too).
        var reader = RDBReader(payload)
        do throws(RDBError) {
            let type = try reader.byte()
            return try readValue(type, from: &reader, limits: limits)
        } catch {
            throw .badFormat(error)
        }
    }
}

// MARK: - RDB files

/// What an import found, for the log and INFO.
public struct RDBImportStats: Sendable {
    public var version = 0
    public var keys = 0
    public var expiredSkipped = 0
    public var keysPerDatabase: [Int: Int] = [:]
    public var bytes = 0
    public var microseconds: Int64 = 0
    /// Function libraries' code (RDB_OPCODE_FUNCTION2), for the server to load.
    public var functionLibraries: [[UInt8]] = []
    /// AUX fields (redis-ver, ctime, used-mem...), as the file names them.
    public var aux: [(String, String)] = []
}

public enum RDBFile {
    enum Opcode: UInt8 {
        case function2 = 0xF5, function = 0xF6, moduleAux = 0xF7, idle = 0xF8, freq = 0xF9, aux = 0xFA
        case resizeDB = 0xFB, expireTimeMs = 0xFC, expireTime = 0xFD, selectDB = 0xFE, eof = 0xFF
    }

    /// Reads a dump.rdb written by redis-server (RDB versions 1 to 12; Redis 6.x writes 9, 7.0 writes 10),
    /// calling `onKey(database, key, entry)` for every key alive at `now`. The checksum is verified unless the
    /// file says it was written without one (0). Every problem is an RDBError naming the byte offset.
    public static func read(
        path: String, now: Milliseconds, databases: Int, limits: EncodingLimits,
        progress: (RDBImportStats, Int) -> Void = { _, _ in },
        onKey: (Int, Key, Entry) throws(RDBError) -> Void
    ) throws(RDBError) -> RDBImportStats {
        let started = monotonicMicroseconds()
        let file: [UInt8]
        do throws(SnapshotError) { file = try SnapshotReader.readWholeFile(path) } catch {
            throw RDBError(error.description)
        }
        var stats = RDBImportStats()
        stats.bytes = file.count
        let outcome: Result<Void, RDBError> = file.withUnsafeBytes { raw in
            do throws(RDBError) {
                try parse(raw, now: now, databases: databases, limits: limits, stats: &stats, progress: progress,
                          onKey: onKey)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try outcome.get()
        stats.microseconds = monotonicMicroseconds() - started
        return stats
    }

    private static func parse(
        _ raw: UnsafeRawBufferPointer, now: Milliseconds, databases: Int, limits: EncodingLimits,
        stats: inout RDBImportStats, progress: (RDBImportStats, Int) -> Void,
        onKey: (Int, Key, Entry) throws(RDBError) -> Void
    ) throws(RDBError) {
        var reader = RDBReader(raw)
        let magic = try reader.take(9)
        guard magic.prefix(5).elementsEqual("REDIS".utf8),
            let version = Int(String(decoding: magic.suffix(4), as: UTF8.self))
        else { throw RDBError("not an RDB file (no REDIS magic)") }
        guard version >= 1, version <= Int(RDB.newestReadable) else {
            throw RDBError("RDB version \(version) is newer than Shoal reads (up to \(RDB.newestReadable))")
        }
        stats.version = version
        var database = 0
        var expiresAt: Milliseconds = 0
        var lastProgress = monotonicMicroseconds()
        while true {
            let at = reader.offset
            let type = try reader.byte()
            switch Opcode(rawValue: type) {
            case .eof:
                if version >= 5 {
                    let end = reader.offset
                    let stored = try reader.littleEndian(UInt64.self)
                    let computed = CRC64.update(0, UnsafeRawBufferPointer(rebasing: raw[..<end]))
                    guard stored == 0 || stored == computed else {
                        throw RDBError("checksum mismatch: the file says \(stored), its bytes give \(computed)")
                    }
                }
                return
            case .selectDB:
                database = try reader.count()
                guard database < databases else {
                    throw RDBError("database \(database) at byte \(at), but this server has \(databases) (set databases)")
                }
            case .resizeDB:
                _ = try reader.length()
                _ = try reader.length()
            case .aux:
                let name = String(decoding: try reader.string(), as: UTF8.self)
                let value = String(decoding: try reader.string(), as: UTF8.self)
                stats.aux.append((name, value))
            case .expireTimeMs:
                expiresAt = try reader.littleEndian(Int64.self)
            case .expireTime:
                expiresAt = Int64(try reader.littleEndian(Int32.self)) * 1000
            case .idle:
                _ = try reader.length()
            case .freq:
                _ = try reader.byte()
            case .function2:
                stats.functionLibraries.append(try reader.string())
            case .function, .moduleAux:
                throw RDBError(
                    "\(type == Opcode.function.rawValue ? "a pre-7.0 function record" : "module data") at byte \(at): Shoal has no way to load it")
            case nil:
                let key = try reader.string()
                let value: Value
                do throws(RDBError) { value = try RDB.readValue(type, from: &reader, limits: limits) } catch {
                    throw RDBError(
                        "key '\(String(decoding: key.prefix(64), as: UTF8.self))' in db \(database) at byte \(at): \(error.message)")
                }
                let entry = Entry(value: value, expiresAt: expiresAt)
                expiresAt = 0
                if entry.isExpired(at: now) {
                    stats.expiredSkipped += 1
                } else {
                    try onKey(database, Key(key), entry)
                    stats.keys += 1
                    stats.keysPerDatabase[database, default: 0] += 1
                }
                let nowMicros = monotonicMicroseconds()
                if nowMicros - lastProgress > 1_000_000 {
                    lastProgress = nowMicros
                    progress(stats, reader.offset)
                }
            }
        }
    }
}
