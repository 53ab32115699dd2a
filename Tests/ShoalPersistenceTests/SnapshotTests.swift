import Foundation
import Testing

@testable import ShoalPersistence
@testable import ShoalStore

func put(_ keyspace: Keyspace, _ database: Int, _ key: [UInt8], _ value: [UInt8], expiresAt: Milliseconds = 0) {
    keyspace.load(database: database, key: Key(key), entry: Entry(value: .string(value), expiresAt: expiresAt), now: 0)
}

func put(_ keyspace: Keyspace, _ database: Int, _ key: String, _ value: String, expiresAt: Milliseconds = 0) {
    put(keyspace, database, Array(key.utf8), Array(value.utf8), expiresAt: expiresAt)
}

func contents(_ keyspace: Keyspace) -> [String: Entry] {
    var all: [String: Entry] = [:]
    for database in 0..<keyspace.databaseCount {
        var cursor: UInt64 = 0
        repeat {
            cursor = keyspace.scan(database: database, cursor: cursor, count: 1000, now: 0) { table, index in
                all["\(database)/\(table.key(at: index).bytes)"] = table.entry(at: index)
            }
        } while cursor != 0
    }
    return all
}

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "shoal-test-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@discardableResult
func save(_ keyspace: Keyspace, to directory: String, now: Milliseconds = 1000) throws -> SnapshotWriteStats {
    try SnapshotWriter.write(
        tables: keyspace.pointInTimeCopy().tables, directory: directory, filename: "dump.shoal", now: now)
}

@Suite struct SnapshotTests {
    @Test func roundTripKeepsEveryKeyValueDeadlineAndDatabase() throws {
        let source = Keyspace(databases: 4, shardsPerDatabase: 8)
        put(source, 0, "greeting", "hello world")
        put(source, 0, Array([0, 1, 255, 13, 10]), Array([0, 0, 0]))
        put(source, 0, "", "empty key")
        put(source, 3, "other", "", expiresAt: 5_000_000)
        for i in 0..<5000 {
            put(source, 1, "key:\(i)", String(repeating: "v", count: i % 300), expiresAt: i % 3 == 0 ? 9_000_000 : 0)
        }
        let directory = temporaryDirectory()
        let stats = try save(source, to: directory)
        #expect(stats.keys == 5004)
        let target = Keyspace(databases: 4, shardsPerDatabase: 2)
        let loaded = try SnapshotReader.load(path: directory + "/dump.shoal", into: target, now: 2000)
        #expect(loaded?.keys == 5004)
        #expect(contents(target) == contents(source))
    }

    @Test func expiredKeysAreSkippedOnSaveAndOnLoad() throws {
        let source = Keyspace(databases: 1, shardsPerDatabase: 4)
        put(source, 0, "already-gone", "x", expiresAt: 500)
        put(source, 0, "gone-by-load", "y", expiresAt: 1500)
        put(source, 0, "kept", "z")
        let directory = temporaryDirectory()
        #expect(try save(source, to: directory, now: 1000).keys == 2)
        let target = Keyspace(databases: 1, shardsPerDatabase: 4)
        let loaded = try #require(try SnapshotReader.load(path: directory + "/dump.shoal", into: target, now: 2000))
        #expect(loaded.keys == 1)
        #expect(loaded.expiredSkipped == 1)
        #expect(contents(target).count == 1)
    }

    @Test func missingFileMeansStartEmpty() throws {
        #expect(
            try SnapshotReader.load(
                path: "/nonexistent/dump.shoal", into: Keyspace(databases: 1, shardsPerDatabase: 1), now: 0) == nil)
    }

    /// Flipping any single bit anywhere in the file must never load wrong data: the file is refused, or (when
    /// the flip lands in an LZ4 match offset that points at an identical run of bytes) it decodes to exactly
    /// the same records, which the stream checksum then confirms.
    @Test func everySingleBitFlipIsRefusedOrHarmless() throws {
        let source = Keyspace(databases: 2, shardsPerDatabase: 4)
        for i in 0..<20 { put(source, i % 2, "k\(i)", "value \(i)", expiresAt: i % 4 == 0 ? 9_000_000 : 0) }
        let directory = temporaryDirectory()
        try save(source, to: directory)
        let path = directory + "/dump.shoal"
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let expected = contents(source)
        var refused = 0
        var wrongLoads: [Int] = []
        for offset in 0..<original.count {
            for bit in [0, 3, 7] {
                var damaged = original
                damaged[offset] ^= UInt8(1 << bit)
                try damaged.write(to: URL(fileURLWithPath: path))
                let target = Keyspace(databases: 2, shardsPerDatabase: 4)
                do {
                    _ = try SnapshotReader.load(path: path, into: target, now: 2000)
                    if contents(target) != expected { wrongLoads.append(offset) }
                } catch {
                    refused += 1
                    #expect(error.file == path)
                    #expect(error.fileOffset != nil)
                }
            }
        }
        #expect(wrongLoads == [])
        #expect(refused > original.count * 3 * 9 / 10)
    }

    @Test func everyTruncationIsRefused() throws {
        let source = Keyspace(databases: 1, shardsPerDatabase: 4)
        for i in 0..<50 { put(source, 0, "k\(i)", "value \(i)") }
        let directory = temporaryDirectory()
        try save(source, to: directory)
        let path = directory + "/dump.shoal"
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        for length in 0..<original.count {
            try original.prefix(length).write(to: URL(fileURLWithPath: path))
            #expect(throws: SnapshotError.self, "length \(length)") { try SnapshotReader.check(path: path, now: 0) }
        }
        try (original + Data([0x04, 0x22, 0x4D, 0x18])).write(to: URL(fileURLWithPath: path))
        #expect(throws: SnapshotError.self) { try SnapshotReader.check(path: path, now: 0) }
    }

    /// A file around hand-made records, with valid frames, counts and checksum: only the records can be wrong.
    static func rawSnapshot(records: [UInt8], keys: Int, version: UInt16 = SnapshotFormat.version) throws -> String {
        var header = SnapshotFormat.magic
        header.appendLittleEndian(version)
        header.appendLittleEndian(UInt16(0))
        header.appendLittleEndian(Int64(0))
        header.appendVarint(0)
        var trailer: [UInt8] = [SnapshotFormat.Opcode.end.rawValue]
        trailer.appendVarint(UInt64(keys))
        trailer.appendVarint(UInt64(records.count))
        trailer.appendLittleEndian(CRC32.update(CRC32.update(CRC32.update(0, header), records), trailer))
        var file: [UInt8] = []
        for frame in [header, records, trailer] { try frame.withUnsafeBytes { try compressFrame($0, into: &file) } }
        let path = temporaryDirectory() + "/dump.shoal"
        try Data(file).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// `database 0`, then a collection record: opcode, no deadline, key "k", the count, then `elements`.
    static func collectionRecord(_ opcode: SnapshotFormat.Opcode, count: Int, _ elements: [String]) -> [UInt8] {
        var bytes: [UInt8] = [SnapshotFormat.Opcode.database.rawValue, 0, opcode.rawValue, 0, 1, UInt8(ascii: "k")]
        bytes.appendVarint(UInt64(count))
        for element in elements {
            bytes.appendVarint(UInt64(element.utf8.count))
            bytes += Array(element.utf8)
        }
        return bytes
    }

    @Test func corruptCollectionRecordsAreRefusedWithTheirOffset() throws {
        let cases: [(records: [UInt8], version: UInt16, message: String)] = [
            (Self.collectionRecord(.hash, count: 2, ["f", "v"]), 2, "truncated or empty hash record"),
            (Self.collectionRecord(.hash, count: 0, []), 2, "truncated or empty hash record"),
            (Self.collectionRecord(.hash, count: 2, ["f", "v", "f", "w"]), 2, "hash record with duplicate fields"),
            (Self.collectionRecord(.set, count: 1_000_000, ["a"]), 2, "truncated or empty set record"),
            (Self.collectionRecord(.set, count: 2, ["1", "1"]), 2, "set record with duplicate members"),
            (Self.collectionRecord(.set, count: 1, ["a"]), 1, "set record in a version 1 snapshot"),
        ]
        for (records, version, message) in cases {
            let path = try Self.rawSnapshot(records: records, keys: 1, version: version)
            do {
                _ = try SnapshotReader.check(path: path, now: 0)
                Issue.record("accepted: \(message)")
            } catch {
                #expect(error.message == message)
                #expect(error.streamOffset != nil)
            }
        }
        // And a well-formed one passes, so the cases above fail for their own reason only.
        let good = try Self.rawSnapshot(records: Self.collectionRecord(.hash, count: 1, ["f", "v"]), keys: 1)
        #expect(try SnapshotReader.check(path: good, now: 0).keys == 1)
    }

    @Test func manyFramesForLargeDatasetsWithPausesBetweenChunks() throws {
        let source = Keyspace(databases: 1, shardsPerDatabase: 16)
        for i in 0..<100_000 { put(source, 0, "key:\(i)", "value-\(i)-" + String(repeating: "x", count: 20)) }
        let directory = temporaryDirectory()
        // A background save's pause (Snapshotter yields the CPU there) comes every recordsPerPause records.
        var pauses = 0
        let stats = try SnapshotWriter.write(
            tables: source.pointInTimeCopy().tables, directory: directory, filename: "dump.shoal", now: 1000,
            pause: { pauses += 1 })
        #expect(pauses == 100_000 / SnapshotWriter.recordsPerPause)
        #expect(stats.rawBytes > 2 * SnapshotFormat.targetFrameBytes)
        let target = Keyspace(databases: 1, shardsPerDatabase: 16)
        #expect(try SnapshotReader.load(path: directory + "/dump.shoal", into: target, now: 0)?.keys == 100_000)
    }

    @Test func unwritableDestinationFailsCleanlyAndLeavesNoTemporaryFile() throws {
        let source = Keyspace(databases: 1, shardsPerDatabase: 1)
        put(source, 0, "k", "v")
        #expect(throws: SnapshotError.self) {
            try SnapshotWriter.write(
                tables: source.pointInTimeCopy().tables, directory: "/nonexistent-dir", filename: "dump.shoal", now: 0)
        }
        // A directory where the file should be: the rename fails and the temporary file is removed.
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory + "/dump.shoal", withIntermediateDirectories: true)
        #expect(throws: SnapshotError.self) { try save(source, to: directory) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["dump.shoal"])
    }

    @Test func pointInTimeCopyIsUnaffectedByLaterWrites() throws {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 4)
        for i in 0..<100 { put(keyspace, 0, "k\(i)", "before") }
        let copy = keyspace.pointInTimeCopy()
        for i in 0..<100 { put(keyspace, 0, "k\(i)", "after") }
        put(keyspace, 0, "new", "after")
        let directory = temporaryDirectory()
        try SnapshotWriter.write(tables: copy.tables, directory: directory, filename: "dump.shoal", now: 0)
        let target = Keyspace(databases: 1, shardsPerDatabase: 4)
        _ = try SnapshotReader.load(path: directory + "/dump.shoal", into: target, now: 0)
        #expect(contents(target).count == 100)
        #expect(contents(target).values.allSatisfy { $0.value == .string(Array("before".utf8)) })
    }
}

/// Files written by this version must load in every later one, and the numbers written to disk never change.
@Suite struct SnapshotCompatibilityTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/v1.shoal"
    ).path

    @Test func versionOneFixtureStillLoads() throws {
        let keyspace = Keyspace(databases: 16, shardsPerDatabase: 64)
        let stats = try #require(
            try SnapshotReader.load(path: Self.fixture, into: keyspace, now: currentTimeMilliseconds()))
        #expect(stats.formatVersion == 1)
        #expect(stats.keys == 6)
        #expect(stats.expiredSkipped == 1)
        let all = contents(keyspace)
        #expect(all["0/\(Array("greeting".utf8))"] == Entry(value: .string(Array("hello world".utf8))))
        #expect(all["0/\(Array("counter".utf8))"] == Entry(value: .string(Array("42".utf8))))
        #expect(all["0/\(Array("binary".utf8))"] == Entry(value: .string([0, 1, 255, 13, 10, 127])))
        #expect(all["0/\(Array("empty".utf8))"] == Entry(value: .string([])))
        #expect(
            all["0/\(Array("session".utf8))"]
                == Entry(value: .string(Array("alice".utf8)), expiresAt: 4_102_444_800_000))
        #expect(all["5/\(Array("other-db".utf8))"] == Entry(value: .string(Array("yes".utf8))))
    }

    static let fixtureV2 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/v2.shoal"
    ).path

    /// What Fixtures/v2.shoal holds: every type, both encodings of each collection (lists have one), binary fields, a deadline
    /// far in the future, one long past, and a second database.
    static func versionTwoContents() -> [(database: Int, key: String, entry: Entry)] {
        let limits = EncodingLimits.standard
        let small = HashValue(pairs: [(Array("absexp".utf8), Array("-1".utf8)), ([0, 255], [13, 10])], limits: limits)
        let large = HashValue(pairs: (0..<600).map { (Array("field\($0)".utf8), Array("value\($0)".utf8)) }, limits: limits)
        let ints = SetValue(members: [Array("1".utf8), Array("-70000".utf8), Array("5000000000".utf8)], limits: limits)
        let strings = SetValue(members: [Array("queue:default".utf8), [0, 1, 2]], limits: limits)
        let jobs = ListValue(elements: (0..<300).map { Array("{\"job\":\($0)}".utf8) } + [[]], limits: limits)
        let leaders = SortedSetValue(
            entries: [(Array("alice".utf8), 42.5), (Array("bob".utf8), -.infinity), ([0xFF], 0.1)], limits: limits)
        let ranks = SortedSetValue(
            entries: (0..<200).map { (Array("player\($0)".utf8), Double($0 % 17)) }, limits: limits)
        return [
            (0, "text", Entry(value: .string(Array("hello".utf8)))),
            (0, "small-hash", Entry(value: .hash(small), expiresAt: 4_102_444_800_000)),
            (0, "large-hash", Entry(value: .hash(large))),
            (0, "int-set", Entry(value: .set(ints))),
            (3, "string-set", Entry(value: .set(strings))),
            (0, "jobs", Entry(value: .list(jobs))),
            (0, "small-zset", Entry(value: .sortedSet(leaders))),
            (0, "large-zset", Entry(value: .sortedSet(ranks))),
            (0, "expired-set", Entry(value: .set(ints), expiresAt: 1_000)),
        ]
    }

    /// Rewrites the fixture (run once, by hand, with SHOAL_WRITE_FIXTURE=1, when the format version changes).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SHOAL_WRITE_FIXTURE"] == "1"))
    func writeVersionTwoFixture() throws {
        let keyspace = Keyspace(databases: 16, shardsPerDatabase: 4)
        for (database, key, entry) in Self.versionTwoContents() {
            keyspace.load(database: database, key: Key(key), entry: entry, now: 0)
        }
        let directory = URL(fileURLWithPath: Self.fixtureV2).deletingLastPathComponent().path
        _ = try SnapshotWriter.write(
            tables: keyspace.pointInTimeCopy().tables, directory: directory, filename: "v2.shoal", now: 0)
    }

    @Test func versionTwoFixtureStillLoads() throws {
        let keyspace = Keyspace(databases: 16, shardsPerDatabase: 64)
        let stats = try #require(
            try SnapshotReader.load(path: Self.fixtureV2, into: keyspace, now: currentTimeMilliseconds()))
        #expect(stats.formatVersion == 2)
        #expect(stats.keys == 8)
        #expect(stats.expiredSkipped == 1)
        let all = contents(keyspace)
        for (database, key, entry) in Self.versionTwoContents() where key != "expired-set" {
            #expect(all["\(database)/\(Array(key.utf8))"] == entry, "\(key)")
        }
        let encodings = Self.versionTwoContents().compactMap { item -> String? in
            all["\(item.database)/\(Array(item.key.utf8))"]?.value.encodingName
        }
        #expect(encodings == ["listpack", "hashtable", "intset", "hashtable", "quicklist", "listpack", "skiplist"])
    }

    @Test func persistedNumbersNeverChange() {
        #expect(SnapshotFormat.magic == Array("SHOALSNP".utf8))
        #expect(SnapshotFormat.Opcode.database.rawValue == 0x01)
        #expect(SnapshotFormat.Opcode.string.rawValue == 0x02)
        #expect(SnapshotFormat.Opcode.hash.rawValue == 0x03)
        #expect(SnapshotFormat.Opcode.list.rawValue == 0x04)
        #expect(SnapshotFormat.Opcode.set.rawValue == 0x05)
        #expect(SnapshotFormat.Opcode.sortedSet.rawValue == 0x06)
        #expect(SnapshotFormat.Opcode.end.rawValue == 0xFF)
        #expect(SnapshotFormat.version == 2)
        #expect(SnapshotFormat.Opcode.allCases.count == 7, "a new opcode needs a pinned number here and in the doc")
    }

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.update(0, Array("123456789".utf8)) == 0xCBF4_3926)
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        // Split anywhere, the running CRC is the same as in one go.
        #expect(CRC32.update(CRC32.update(0, Array(long[..<333])), Array(long[333...])) == CRC32.update(0, long))
    }
}
