import Foundation
import RESP
import Testing

@testable import ShoalServer

@Suite struct SnapshotCommandTests {
    func directory() -> String {
        let path = NSTemporaryDirectory() + "shoal-snap-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func saveBgsaveAndLastsave() throws {
        let dir = directory()
        let server = try TestServer { $0.dir = dir }
        let client = try server.client()
        try client.call("SET", "k", "v")
        guard case .integer(let before) = try client.call("LASTSAVE") else { throw TestError("LASTSAVE") }
        #expect(try client.call("SAVE") == .ok)
        #expect(FileManager.default.fileExists(atPath: dir + "/dump.shoal"))
        guard case .integer(let after) = try client.call("LASTSAVE") else { throw TestError("LASTSAVE") }
        #expect(after >= before)
        #expect(try client.call("BGSAVE") == .simple("Background saving started"))
        #expect(try client.call("BGSAVE", "NOW") == .error("ERR syntax error"))
        var info = ""
        try waitUntil {
            info = try client.call("INFO", "persistence").string ?? ""
            return info.contains("rdb_bgsave_in_progress:0") && info.contains("rdb_saves:2")
        }
        #expect(info.contains("rdb_saves:2"))
        #expect(info.contains("rdb_last_bgsave_status:ok"))
        #expect(info.contains("rdb_changes_since_last_save:0"))
        #expect(info.contains("snapshot_last_keys:1"))
    }

    /// A failed save is reported, and (with save rules on) writes get Redis's MISCONF error until a save works.
    @Test func failedSaveBlocksWritesUntilASaveSucceeds() throws {
        let dir = directory()
        let server = try TestServer {
            $0.dir = dir
            $0.save = [SaveRule(seconds: 3600, changes: 1)]
        }
        let client = try server.client()
        try client.call("SET", "k", "v")
        #expect(try client.call("CONFIG", "SET", "dir", "/nonexistent/shoal") == .ok)
        guard case .error(let failure) = try client.call("SAVE") else { throw TestError("SAVE must fail") }
        #expect(failure.contains("/nonexistent/shoal"))
        #expect(try client.call("SET", "k", "w") == .error(CommandError.misconf.text))
        #expect(try client.call("PING") == .error(CommandError.misconf.text))
        #expect(try client.call("GET", "k") == .bulk("v"))  // reads keep working
        #expect((try client.call("INFO", "persistence").string ?? "").contains("rdb_last_bgsave_status:err"))
        #expect(try client.call("CONFIG", "SET", "dir", dir) == .ok)
        #expect(try client.call("SAVE") == .ok)
        #expect(try client.call("SET", "k", "w") == .ok)
    }

    @Test func saveRulesTriggerABackgroundSave() throws {
        let dir = directory()
        let server = try TestServer {
            $0.dir = dir
            $0.save = [SaveRule(seconds: 1, changes: 3)]
            $0.hz = 50
        }
        let client = try server.client()
        try client.call("MSET", "a", "1", "b", "2", "c", "3")
        #expect(waitUntil { FileManager.default.fileExists(atPath: dir + "/dump.shoal") })
    }
}
