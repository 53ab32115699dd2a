import ShoalPosix
import ShoalStore

#if canImport(Glibc)
    import Glibc
#endif

/// What reading a snapshot found.
public struct SnapshotReadStats: Sendable, Equatable {
    /// Keys handed over (alive at load time).
    public var keys = 0
    /// Keys in the file whose deadline had passed; skipped.
    public var expiredSkipped = 0
    /// Keys per database (alive ones).
    public var keysPerDatabase: [Int: Int] = [:]
    public var createdAt: Milliseconds = 0
    public var formatVersion: UInt16 = 0
    public var rawBytes = 0
    public var fileBytes = 0
    public var microseconds: Int64 = 0
}

/// Reads snapshot files. Everything is validated: the LZ4 frames (with their content checksums), every record's
/// bounds, the trailer's key count and the CRC-32 of the whole stream. Any problem is an error naming the file
/// and where in it the problem was found.
public enum SnapshotReader {
    /// Loads `path` into `keyspace`. A missing file is not an error (returns nil): the server starts empty.
    public static func load(
        path: String, into keyspace: Keyspace, now: Milliseconds, limits: EncodingLimits = .standard,
        progress: (SnapshotReadStats) -> Void = { _ in }
    ) throws(SnapshotError) -> SnapshotReadStats? {
        guard access(path, F_OK) == 0 else { return nil }
        return try read(path: path, now: now, databases: keyspace.databaseCount, limits: limits, progress: progress) {
            database, key, entry in
            keyspace.load(database: database, key: key, entry: entry, now: now)
        }
    }

    /// Validates `path` without loading it anywhere (`shoal-server --check-snapshot`).
    public static func check(path: String, now: Milliseconds) throws(SnapshotError) -> SnapshotReadStats {
        try read(path: path, now: now, databases: Int.max) { _, _, _ in }
    }

    /// Reads every record, calling `onKey` for each key alive at `now`.
    public static func read(
        path: String, now: Milliseconds, databases: Int, limits: EncodingLimits = .standard,
        progress: (SnapshotReadStats) -> Void = { _ in },
        onKey: (Int, Key, Entry) -> Void
    ) throws(SnapshotError) -> SnapshotReadStats {
        let started = monotonicMicroseconds()
        let file = try readWholeFile(path)
        var stats = SnapshotReadStats()
        stats.fileBytes = file.count
        let decoder: FrameDecoder
        do throws(LZ4Failure) { decoder = try FrameDecoder() } catch {
            throw SnapshotError(file: path, "LZ4: \(error.message)")
        }
        var frame: [UInt8] = []
        var fileOffset = 0
        var streamOffset = 0
        var crc: UInt32 = 0
        var lastProgress = monotonicMicroseconds()
        var sawTrailer = false
        func parse(_ bytes: UnsafeRawBufferPointer) throws(SnapshotError) {
            func fail(_ message: String, at local: Int? = nil) -> SnapshotError {
                SnapshotError(
                    file: path, message, fileOffset: fileOffset, streamOffset: local.map { streamOffset + $0 })
            }
            func nextFrame() throws(SnapshotError) {
                guard fileOffset < bytes.count else {
                    throw fail(
                        sawTrailer ? "unexpected data" : "truncated file: no trailer (the snapshot is incomplete)")
                }
                do throws(LZ4Failure) {
                    fileOffsetAfterFrame = try decoder.decodeFrame(bytes, at: fileOffset, into: &frame)
                } catch {
                    throw fail("corrupt LZ4 frame (\(error.message))")
                }
            }
            var fileOffsetAfterFrame = 0
            // Header frame.
            try nextFrame()
            var reader = ByteReader(frame)
            guard frame.count >= 20, Array(frame[0..<8]) == SnapshotFormat.magic else {
                throw fail("not a Shoal snapshot (wrong magic)", at: 0)
            }
            reader.position = 8
            let version = reader.littleEndian(UInt16.self) ?? 0
            guard version >= 1 && version <= SnapshotFormat.version else {
                throw fail(
                    "snapshot format version \(version) is newer than this Shoal understands (\(SnapshotFormat.version))",
                    at: 8)
            }
            stats.formatVersion = version
            _ = reader.littleEndian(UInt16.self)
            stats.createdAt = reader.littleEndian(Int64.self) ?? 0
            guard let producerLength = reader.varint(), reader.skip(Int(producerLength)), reader.atEnd else {
                throw fail("malformed header", at: reader.position)
            }
            crc = CRC32.update(crc, frame)
            streamOffset += frame.count
            fileOffset = fileOffsetAfterFrame
            var recordBytes = 0
            // Record frames, then the trailer frame.
            while !sawTrailer {
                try nextFrame()
                var reader = ByteReader(frame)
                if frame.first == SnapshotFormat.Opcode.end.rawValue {
                    // Trailer: opcode, keys, record bytes, crc of everything before the crc.
                    reader.position = 1
                    guard let keys = reader.varint(), let recordTotal = reader.varint() else {
                        throw fail("malformed trailer", at: reader.position)
                    }
                    let crcPosition = reader.position
                    guard let stored = reader.littleEndian(UInt32.self), reader.atEnd else {
                        throw fail("malformed trailer", at: reader.position)
                    }
                    crc = frame.withUnsafeBytes {
                        CRC32.update(crc, UnsafeRawBufferPointer(rebasing: $0[..<crcPosition]))
                    }
                    guard Int(recordTotal) == recordBytes else {
                        throw fail("trailer says \(recordTotal) record bytes, found \(recordBytes)", at: 1)
                    }
                    guard Int(keys) == stats.keys + stats.expiredSkipped else {
                        throw fail("trailer says \(keys) keys, found \(stats.keys + stats.expiredSkipped)", at: 1)
                    }
                    guard stored == crc else {
                        throw fail(
                            "checksum mismatch (stored \(stored), computed \(crc)): the file is corrupt",
                            at: crcPosition)
                    }
                    streamOffset += frame.count
                    fileOffset = fileOffsetAfterFrame
                    sawTrailer = true
                    break
                }
                var database = -1
                while !reader.atEnd {
                    let recordStart = reader.position
                    let opcode = reader.byte()!
                    switch SnapshotFormat.Opcode(rawValue: opcode) {
                    case .database:
                        guard let value = reader.varint() else {
                            throw fail("truncated database record", at: recordStart)
                        }
                        guard value < UInt64(databases) else {
                            throw fail(
                                "database \(value) is out of range (the server has \(databases) databases)",
                                at: recordStart)
                        }
                        database = Int(value)
                    case .string, .hash, .set, .list, .sortedSet:
                        guard database >= 0 else {
                            throw fail("key record before any database record", at: recordStart)
                        }
                        let kind = SnapshotFormat.Opcode(rawValue: opcode)!
                        guard version >= 2 || kind == .string else {
                            throw fail("\(kind) record in a version \(version) snapshot", at: recordStart)
                        }
                        guard let expiresAt = reader.varint(), let keyLength = reader.varint(),
                            let key = reader.bytes(keyLength)
                        else { throw fail("truncated \(kind) record", at: recordStart) }
                        let value: Value
                        switch kind {
                        case .hash:
                            guard let pairs = reader.elements(perItem: 2), !pairs.isEmpty else {
                                throw fail("truncated or empty hash record", at: recordStart)
                            }
                            let hash = HashValue(
                                pairs: stride(from: 0, to: pairs.count, by: 2).map { (pairs[$0], pairs[$0 + 1]) },
                                limits: limits)
                            guard hash.count * 2 == pairs.count else {
                                throw fail("hash record with duplicate fields", at: recordStart)
                            }
                            value = .hash(hash)
                        case .set:
                            guard let members = reader.elements(perItem: 1), !members.isEmpty else {
                                throw fail("truncated or empty set record", at: recordStart)
                            }
                            let set = SetValue(members: members, limits: limits)
                            guard set.count == members.count else {
                                throw fail("set record with duplicate members", at: recordStart)
                            }
                            value = .set(set)
                        case .sortedSet:
                            guard let entries = reader.scoredMembers(), !entries.isEmpty else {
                                throw fail("truncated or empty sorted set record", at: recordStart)
                            }
                            let zset = SortedSetValue(entries: entries, limits: limits)
                            guard zset.count == entries.count else {
                                throw fail("sorted set record with duplicate members", at: recordStart)
                            }
                            value = .sortedSet(zset)
                        case .list:
                            guard let elements = reader.elements(perItem: 1), !elements.isEmpty else {
                                throw fail("truncated or empty list record", at: recordStart)
                            }
                            value = .list(ListValue(elements: elements, limits: limits))
                        default:
                            guard let valueLength = reader.varint(), let bytes = reader.bytes(valueLength) else {
                                throw fail("truncated string record", at: recordStart)
                            }
                            value = .string(bytes)
                        }
                        let entry = Entry(value: value, expiresAt: Int64(bitPattern: expiresAt))
                        if entry.isExpired(at: now) {
                            stats.expiredSkipped += 1
                        } else {
                            onKey(database, Key(key), entry)
                            stats.keys += 1
                            stats.keysPerDatabase[database, default: 0] += 1
                        }
                    case .end:
                        throw fail("trailer inside a record frame", at: recordStart)
                    case nil:
                        throw fail(
                            "unknown record type 0x\(String(opcode, radix: 16, uppercase: true)) (written by a newer Shoal?)",
                            at: recordStart)
                    }
                }
                crc = CRC32.update(crc, frame)
                recordBytes += frame.count
                streamOffset += frame.count
                fileOffset = fileOffsetAfterFrame
                let nowMicros = monotonicMicroseconds()
                if nowMicros - lastProgress > 1_000_000 {
                    lastProgress = nowMicros
                    var snapshot = stats
                    snapshot.rawBytes = fileOffset
                    progress(snapshot)
                }
            }
            if fileOffset != bytes.count {
                throw fail("unexpected data after the trailer")
            }
        }
        let outcome: Result<Void, SnapshotError> = file.withUnsafeBytes { bytes in
            do throws(SnapshotError) { return .success(try parse(bytes)) } catch { return .failure(error) }
        }
        try outcome.get()
        stats.rawBytes = streamOffset
        stats.microseconds = monotonicMicroseconds() - started
        return stats
    }

    static func readWholeFile(_ path: String) throws(SnapshotError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SnapshotError(file: path, "can't open: \(errorText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SnapshotError(file: path, "can't stat: \(errorText())") }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        let count: Int
        do throws(SystemError) { count = try Syscall.readFully(fd, into: &bytes) } catch {
            throw SnapshotError(file: path, "read failed: \(error)")
        }
        guard count == bytes.count else {
            throw SnapshotError(file: path, "read failed: file shrank", fileOffset: count)
        }
        return bytes
    }
}

/// Bounds-checked reading of a decompressed frame: every accessor returns nil instead of reading past the end.
struct ByteReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }

    mutating func byte() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func varint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = byte() {
            guard shift < 64 else { return nil }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }

    mutating func bytes(_ count: UInt64) -> [UInt8]? {
        guard count <= UInt64(bytes.count - position) else { return nil }
        defer { position += Int(count) }
        return Array(bytes[position..<(position + Int(count))])
    }

    /// A collection's elements: `varint items`, then `items * perItem` elements of `varint length, bytes`.
    /// Nil when anything runs past the end (the count is checked against the bytes left, so a corrupt count
    /// cannot make it reserve memory it will not fill).
    mutating func elements(perItem: Int) -> [[UInt8]]? {
        guard let items = varint(), items <= UInt64(bytes.count - position) else { return nil }
        var elements: [[UInt8]] = []
        elements.reserveCapacity(Int(items) * perItem)
        for _ in 0..<(Int(items) * perItem) {
            guard let length = varint(), let element = self.bytes(length) else { return nil }
            elements.append(element)
        }
        return elements
    }

    /// A sorted set's members: `varint count`, then each as `varint length, bytes, u64 score bits`. Nil past the
    /// end, and for a NaN score (no sorted set holds one).
    mutating func scoredMembers() -> [(member: [UInt8], score: Double)]? {
        guard let items = varint(), items <= UInt64(bytes.count - position) else { return nil }
        var entries: [(member: [UInt8], score: Double)] = []
        entries.reserveCapacity(Int(items))
        for _ in 0..<items {
            guard let length = varint(), let member = self.bytes(length), let bits = littleEndian(UInt64.self) else {
                return nil
            }
            let score = Double(bitPattern: bits)
            guard !score.isNaN else { return nil }
            entries.append((member, score))
        }
        return entries
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, count <= bytes.count - position else { return false }
        position += count
        return true
    }

    mutating func littleEndian<T: FixedWidthInteger>(_ type: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard size <= bytes.count - position else { return nil }
        var value: T = 0
        for index in 0..<size { value |= T(bytes[position + index]) << (index * 8) }
        position += size
        return value  // assembled least significant byte first: the file's byte order, whatever the host's
    }
}
