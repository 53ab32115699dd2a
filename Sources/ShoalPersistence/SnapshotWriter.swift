import ShoalPosix
import ShoalStore

#if canImport(Glibc)
    import Glibc
#endif

/// What one save did.
public struct SnapshotWriteStats: Sendable, Equatable {
    public var keys = 0
    /// Uncompressed record stream bytes.
    public var rawBytes = 0
    /// Bytes in the file.
    public var fileBytes = 0
    public var microseconds: Int64 = 0

    public init() {}

    public var compressionRatio: Double { fileBytes > 0 ? Double(rawBytes) / Double(fileBytes) : 0 }
}

/// Writes snapshot files crash-safely: the stream goes to a temporary file in the target directory, which is
/// fsynced, renamed over the destination and followed by an fsync of the directory. A crash at any moment
/// leaves either the previous file or the new one, never a partial file under the real name.
public enum SnapshotWriter {
    /// Records between two calls of `write`'s `pause`: about 100 µs of work for small keys.
    public static let recordsPerPause = 1024

    /// Serialises `tables` (from `Keyspace.pointInTimeCopy`) to `directory/filename`. Keys already expired at
    /// `now` are left out. `pause`, when given, is called every `recordsPerPause` records: a background save
    /// gives the CPU back there (see `Snapshotter`).
    public static func write(
        tables: [(ShardID, ShardTable)], directory: String, filename: String, now: Milliseconds,
        pause: (() -> Void)? = nil
    ) throws(SnapshotError) -> SnapshotWriteStats {
        let started = monotonicMicroseconds()
        let destination = directory.hasSuffix("/") ? directory + filename : directory + "/" + filename
        let temporary =
            (directory.hasSuffix("/") ? directory : directory + "/")
            + "temp-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).shoal"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SnapshotError(file: temporary, "can't create temporary file: \(errorText())") }
        var stats = SnapshotWriteStats()
        do throws(SnapshotError) {
            var sink = FrameSink(fd: fd, path: temporary)
            var stream: [UInt8] = []
            stream.reserveCapacity(SnapshotFormat.targetFrameBytes + 64 * 1024)
            // Header, in a frame of its own.
            stream += SnapshotFormat.magic
            stream.appendLittleEndian(SnapshotFormat.version)
            stream.appendLittleEndian(UInt16(0))
            stream.appendLittleEndian(Int64(now))
            let producer = Array("shoal".utf8)
            stream.appendVarint(UInt64(producer.count))
            stream += producer
            try sink.emit(&stream)
            // Records: every frame starts with the database it belongs to and ends on a record boundary.
            for (id, table) in tables {
                var needsDatabase = true
                try table.forEachIndexThrowing { index throws(SnapshotError) in
                    if table.isExpired(at: index, now: now) { return }
                    if needsDatabase {
                        stream.append(SnapshotFormat.Opcode.database.rawValue)
                        stream.appendVarint(UInt64(id.database))
                        needsDatabase = false
                    }
                    appendRecord(table, index, to: &stream)
                    stats.keys += 1
                    if let pause, stats.keys % recordsPerPause == 0 { pause() }
                    if stream.count >= SnapshotFormat.targetFrameBytes {
                        try sink.emit(&stream)
                        needsDatabase = true
                    }
                }
                if !stream.isEmpty && stream.count >= SnapshotFormat.targetFrameBytes / 2 { try sink.emit(&stream) }
            }
            try sink.emit(&stream)
            // Trailer: counts and the checksum of everything before the checksum itself.
            stream.append(SnapshotFormat.Opcode.end.rawValue)
            stream.appendVarint(UInt64(stats.keys))
            stream.appendVarint(UInt64(sink.rawBytes - sink.headerBytes))
            let crc = CRC32.update(sink.crc, stream)
            stream.appendLittleEndian(crc)
            try sink.emit(&stream)
            try sink.finish()
            stats.rawBytes = sink.rawBytes
            stats.fileBytes = sink.fileBytes
            guard fsync(fd) == 0 else { throw SnapshotError(file: temporary, "fsync failed: \(errorText())") }
            guard close(fd) == 0 else {
                throw SnapshotError(file: temporary, "close failed: \(errorText())")
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, destination) == 0 else {
            let text = errorText()
            unlink(temporary)
            throw SnapshotError(file: destination, "can't rename \(temporary) over it: \(text)")
        }
        // Make the rename itself durable.
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
        stats.microseconds = monotonicMicroseconds() - started
        return stats
    }
}

/// One key's record: its type's opcode, deadline, key, then the value (docs/snapshot-format.md).
private func appendRecord(_ table: ShardTable, _ index: Int, to stream: inout [UInt8]) {
    func appendBytes(_ bytes: UnsafeRawBufferPointer) {
        stream.appendVarint(UInt64(bytes.count))
        stream.append(contentsOf: bytes)
    }
    let hash = table.asHash(at: index)
    let set = table.asSet(at: index)
    let list = table.asList(at: index)
    let zset = table.asSortedSet(at: index)
    let opcode: SnapshotFormat.Opcode =
        hash != nil ? .hash : set != nil ? .set : list != nil ? .list : zset != nil ? .sortedSet : .string
    stream.append(opcode.rawValue)
    stream.appendVarint(UInt64(bitPattern: table.expiresAt(at: index)))
    table.withKeyBytes(at: index) { appendBytes($0) }
    if let hash {
        stream.appendVarint(UInt64(hash.count))
        hash.forEach { field, value in
            appendBytes(field)
            appendBytes(value)
        }
    } else if let set {
        stream.appendVarint(UInt64(set.count))
        set.forEach { appendBytes($0) }
    } else if let zset {
        stream.appendVarint(UInt64(zset.count))
        zset.forEach(from: 0) { _, member, score in
            appendBytes(member)
            stream.appendLittleEndian(score.bitPattern)
            return true
        }
    } else if let list {
        stream.appendVarint(UInt64(list.count))
        list.forEach { _, element in
            appendBytes(element)
            return true
        }
    } else {
        table.withStringBytes(at: index) { appendBytes($0) }
    }
}

/// Compresses record chunks into frames, keeps the running CRC of the uncompressed stream, and writes the
/// frames to the file in large writes.
private struct FrameSink {
    let fd: Int32
    let path: String
    var crc: UInt32 = 0
    var rawBytes = 0
    var headerBytes = 0
    var fileBytes = 0
    var pending: [UInt8] = []

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        pending.reserveCapacity(2 << 20)
    }

    /// Turns `stream` into one frame and empties it.
    mutating func emit(_ stream: inout [UInt8]) throws(SnapshotError) {
        guard !stream.isEmpty else { return }
        crc = CRC32.update(crc, stream)
        if rawBytes == 0 { headerBytes = stream.count }
        rawBytes += stream.count
        let result: Result<Void, LZ4Failure> = stream.withUnsafeBytes { source in
            do throws(LZ4Failure) { return .success(try compressFrame(source, into: &pending)) } catch {
                return .failure(error)
            }
        }
        if case .failure(let error) = result {
            throw SnapshotError(file: path, "LZ4 compression failed: \(error.message)")
        }
        stream.removeAll(keepingCapacity: true)
        if pending.count >= 1 << 20 { try flush() }
    }

    mutating func finish() throws(SnapshotError) { try flush() }

    private mutating func flush() throws(SnapshotError) {
        do throws(SystemError) { try Syscall.writeAll(fd, pending) } catch {
            throw SnapshotError(file: path, "write failed: \(String(cString: strerror(error.errno)))")
        }
        fileBytes += pending.count
        pending.removeAll(keepingCapacity: true)
    }
}

func errorText() -> String { String(cString: strerror(errno)) }

extension ShardTable {
    /// `forEachIndex` for bodies that throw a typed error.
    func forEachIndexThrowing<E: Error>(_ body: (Int) throws(E) -> Void) throws(E) {
        var failure: E?
        forEachIndex { index in
            guard failure == nil else { return }
            do throws(E) { try body(index) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}
