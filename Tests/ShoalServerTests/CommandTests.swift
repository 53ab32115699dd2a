import Foundation
import RESP
import ShoalStore
import Testing

@testable import ShoalServer

typealias Step = ([String], RESPValue)

/// Runs the steps in order on one connection and compares every reply with what Redis 7 answers.
func check(_ steps: [Step], on server: TestServer? = nil) throws {
    let server = try server ?? TestServer()
    let client = try server.client()
    for (command, expected) in steps {
        let reply = try client.call(command)
        #expect(reply == expected, "\(command.joined(separator: " "))")
    }
}

let wrongType = RESPValue.error("WRONGTYPE Operation against a key holding the wrong kind of value")
let notInteger = RESPValue.error("ERR value is not an integer or out of range")
let syntaxError = RESPValue.error("ERR syntax error")

@Suite struct StringCommandTests {
    @Test func setGetAndOptions() throws {
        try check([
            (["GET", "missing"], .null),
            (["SET", "k", "v"], .ok),
            (["GET", "k"], .bulk("v")),
            (["SET", "k", "w", "NX"], .null),
            (["SET", "k", "w", "XX"], .ok),
            (["SET", "other", "x", "XX"], .null),
            (["SET", "k", "new", "GET"], .bulk("w")),
            (["SET", "fresh", "1", "GET"], .null),
            (["SET", "k", "v", "NX", "XX"], syntaxError),
            (["SET", "k", "v", "EX", "10", "PX", "100"], syntaxError),
            (["SET", "k", "v", "EX"], syntaxError),
            (["SET", "k", "v", "EX", "0"], .error("ERR invalid expire time in 'set' command")),
            (["SET", "k", "v", "EX", "-5"], .error("ERR invalid expire time in 'set' command")),
            (["SET", "k", "v", "EX", "abc"], notInteger),
            (["SET", "k", "v", "EX", "9223372036854775807"], .error("ERR invalid expire time in 'set' command")),
            (["SET", "k", "v", "EX", "100"], .ok),
            (["TTL", "k"], .integer(100)),
            (["SET", "k", "v2", "KEEPTTL"], .ok),
            (["TTL", "k"], .integer(100)),
            (["SET", "k", "v3"], .ok),
            (["TTL", "k"], .integer(-1)),
            (["SET", "k", "v", "KEEPTTL", "EX", "5"], syntaxError),
            (["SET", "k"], .error("ERR wrong number of arguments for 'set' command")),
            (["SET", "bin", "a\u{0}b\r\nc"], .ok),
            (["GET", "bin"], .bulk("a\u{0}b\r\nc")),
            (["SET", "empty", ""], .ok),
            (["GET", "empty"], .bulk("")),
            (["STRLEN", "bin"], .integer(6)),
            (["STRLEN", "nope"], .integer(0)),
        ])
    }

    @Test func setVariants() throws {
        try check([
            (["SETNX", "a", "1"], .integer(1)),
            (["SETNX", "a", "2"], .integer(0)),
            (["GET", "a"], .bulk("1")),
            (["SETEX", "b", "100", "x"], .ok),
            (["TTL", "b"], .integer(100)),
            (["SETEX", "b", "0", "x"], .error("ERR invalid expire time in 'setex' command")),
            (["PSETEX", "c", "100000", "y"], .ok),
            (["TTL", "c"], .integer(100)),
            (["PSETEX", "c", "-1", "y"], .error("ERR invalid expire time in 'psetex' command")),
            (["GETSET", "a", "9"], .bulk("1")),
            (["GETSET", "newkey", "9"], .null),
            (["GETDEL", "a"], .bulk("9")),
            (["GETDEL", "a"], .null),
            (["EXISTS", "a"], .integer(0)),
            (["SET", "g", "v"], .ok),
            (["GETEX", "g", "EX", "50"], .bulk("v")),
            (["TTL", "g"], .integer(50)),
            (["GETEX", "g", "PERSIST"], .bulk("v")),
            (["TTL", "g"], .integer(-1)),
            (["GETEX", "g", "EX", "1", "PX", "5"], syntaxError),
            // As redis-server 7.0: syntax first, then the lookup, then the expire time's value.
            (["GETEX", "nothere", "EX", "0"], .null),
            (["GETEX", "nothere", "EX", "x"], .null),
            (["GETEX", "nothere", "BOGUS"], syntaxError),
            (["GETEX", "g", "EX", "0"], .error("ERR invalid expire time in 'getex' command")),
            (["GETEX", "g", "EX", "x"], notInteger),
            (["GETEX", "g", "EX", "0"], .error("ERR invalid expire time in 'getex' command")),
            (["GETEX", "missing"], .null),
            (["GETEX", "g", "PXAT", "1"], .bulk("v")),
            (["EXISTS", "g"], .integer(0)),
        ])
    }

    @Test func multiKey() throws {
        try check([
            (["MSET", "a", "1", "b", "2", "c", "3"], .ok),
            (["MGET", "a", "b", "missing", "c"], .array([.bulk("1"), .bulk("2"), .null, .bulk("3")])),
            (["MSET", "a", "1", "b"], .error("ERR wrong number of arguments for 'mset' command")),
            (["MSETNX", "x", "1", "a", "2"], .integer(0)),
            (["EXISTS", "x"], .integer(0)),
            (["MSETNX", "x", "1", "y", "2"], .integer(1)),
            (["MGET", "x", "y"], .array([.bulk("1"), .bulk("2")])),
        ])
    }

    @Test func counters() throws {
        try check([
            (["INCR", "n"], .integer(1)),
            (["INCRBY", "n", "41"], .integer(42)),
            (["DECR", "n"], .integer(41)),
            (["DECRBY", "n", "50"], .integer(-9)),
            (["INCRBY", "n", "x"], notInteger),
            (["SET", "s", "abc"], .ok),
            (["INCR", "s"], notInteger),
            (["SET", "spaced", " 1"], .ok),
            (["INCR", "spaced"], notInteger),
            (["SET", "max", "9223372036854775807"], .ok),
            (["INCR", "max"], .error("ERR increment or decrement would overflow")),
            (["DECRBY", "n", "-9223372036854775808"], .error("ERR decrement would overflow")),
            (["SET", "ttl", "5", "EX", "100"], .ok),
            (["INCR", "ttl"], .integer(6)),
            (["TTL", "ttl"], .integer(100)),
            (["INCRBYFLOAT", "f", "10.5"], .bulk("10.5")),
            (["INCRBYFLOAT", "f", "0.1"], .bulk("10.6")),
            (["INCRBYFLOAT", "f", "-5.6"], .bulk("5")),
            (["INCRBYFLOAT", "f", "abc"], .error("ERR value is not a valid float")),
            (["INCRBYFLOAT", "s", "1"], .error("ERR value is not a valid float")),
            (["INCRBYFLOAT", "f", "inf"], .error("ERR increment would produce NaN or Infinity")),
            // A value holding a NUL byte is not a number, as in Redis (SETRANGE can write one after the digits).
            (["SET", "nul", "1"], .ok),
            (["SETRANGE", "nul", "1", "\0"], .integer(2)),
            (["INCR", "nul"], notInteger),
            (["INCRBYFLOAT", "nul", "1"], .error("ERR value is not a valid float")),
            (["INCRBYFLOAT", "f", "1\0"], .error("ERR value is not a valid float")),
        ])
    }

    @Test func rangesAndAppend() throws {
        try check([
            (["APPEND", "s", "Hello"], .integer(5)),
            (["APPEND", "s", " World"], .integer(11)),
            (["GET", "s"], .bulk("Hello World")),
            (["GETRANGE", "s", "0", "4"], .bulk("Hello")),
            (["GETRANGE", "s", "-5", "-1"], .bulk("World")),
            (["GETRANGE", "s", "-1", "-5"], .bulk("")),
            (["GETRANGE", "s", "5", "2"], .bulk("")),
            (["GETRANGE", "s", "0", "100"], .bulk("Hello World")),
            (["GETRANGE", "missing", "0", "1"], .bulk("")),
            (["SUBSTR", "s", "6", "-1"], .bulk("World")),
            (["SETRANGE", "s", "6", "Redis"], .integer(11)),
            (["GET", "s"], .bulk("Hello Redis")),
            (["SETRANGE", "pad", "3", "x"], .integer(4)),
            (["GET", "pad"], .bulk("\u{0}\u{0}\u{0}x")),
            (["SETRANGE", "s", "-1", "x"], .error("ERR offset is out of range")),
            (["SETRANGE", "none", "5", ""], .integer(0)),
            (["EXISTS", "none"], .integer(0)),
            (
                ["SETRANGE", "s", "536870911", "xx"],
                .error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
            ),
            (
                ["SETRANGE", "s", "9223372036854775807", "x"],
                .error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
            ),
        ])
    }
}

@Suite struct KeyCommandTests {
    @Test func deleteExistsTypeRename() throws {
        try check([
            (["MSET", "a", "1", "b", "2"], .ok),
            (["EXISTS", "a", "b", "a", "zz"], .integer(3)),
            (["TYPE", "a"], .simple("string")),
            (["TYPE", "zz"], .simple("none")),
            (["DEL", "a", "zz", "a"], .integer(1)),
            (["UNLINK", "b"], .integer(1)),
            (["TOUCH", "a", "b"], .integer(0)),
            (["SET", "src", "v", "EX", "100"], .ok),
            (["RENAME", "src", "dst"], .ok),
            (["GET", "dst"], .bulk("v")),
            (["TTL", "dst"], .integer(100)),
            (["EXISTS", "src"], .integer(0)),
            (["RENAME", "src", "dst"], .error("ERR no such key")),
            (["RENAME", "dst", "dst"], .ok),
            (["SET", "other", "o"], .ok),
            (["RENAMENX", "dst", "other"], .integer(0)),
            (["RENAMENX", "dst", "third"], .integer(1)),
            (["RENAMENX", "third", "third"], .integer(0)),
        ])
    }

    @Test func copyMoveSelect() throws {
        try check([
            (["SET", "k", "v"], .ok),
            (["COPY", "k", "k"], .error("ERR source and destination objects are the same")),
            (["COPY", "k", "k2"], .integer(1)),
            (["COPY", "k", "k2"], .integer(0)),
            (["SET", "k", "v2"], .ok),
            (["COPY", "k", "k2", "REPLACE"], .integer(1)),
            (["GET", "k2"], .bulk("v2")),
            (["COPY", "k", "k", "DB", "1"], .integer(1)),
            (["COPY", "k", "k", "DB", "99"], .error("ERR DB index is out of range")),
            (["COPY", "missing", "x"], .integer(0)),
            (["MOVE", "k2", "0"], .error("ERR source and destination objects are the same")),
            (["MOVE", "k2", "2"], .integer(1)),
            (["EXISTS", "k2"], .integer(0)),
            (["MOVE", "k", "1"], .integer(0)),
            (["SELECT", "2"], .ok),
            (["GET", "k2"], .bulk("v2")),
            (["SELECT", "1"], .ok),
            (["GET", "k"], .bulk("v2")),
            (["SELECT", "16"], .error("ERR DB index is out of range")),
            (["SELECT", "x"], notInteger),
            (["DBSIZE"], .integer(1)),
            (["SWAPDB", "1", "2"], .ok),
            (["GET", "k2"], .bulk("v2")),
            (["SWAPDB", "a", "2"], .error("ERR invalid first DB index")),
            (["SWAPDB", "1", "b"], .error("ERR invalid second DB index")),
            (["SWAPDB", "1", "99"], .error("ERR DB index is out of range")),
            (["FLUSHDB"], .ok),
            (["DBSIZE"], .integer(0)),
            (["SELECT", "0"], .ok),
            (["DBSIZE"], .integer(1)),
            (["FLUSHALL", "FOO"], syntaxError),
            (["FLUSHALL", "ASYNC"], .ok),
            (["DBSIZE"], .integer(0)),
            (["RANDOMKEY"], .null),
        ])
    }

    @Test func keysAndScan() throws {
        let server = try TestServer()
        let client = try server.client()
        for i in 0..<500 { try client.call("SET", "user:\(i)", "x") }
        try client.call("SET", "other", "y")
        guard case .array(let all) = try client.call("KEYS", "user:*") else { throw TestError("KEYS") }
        #expect(all.count == 500)
        guard case .array(let some) = try client.call("KEYS", "user:1?") else { throw TestError("KEYS") }
        #expect(Set(some.compactMap(\.string)) == Set((10...19).map { "user:\($0)" }))
        var seen = Set<String>()
        var cursor = "0"
        var calls = 0
        repeat {
            guard case .array(let reply) = try client.call("SCAN", cursor, "MATCH", "user:*", "COUNT", "50"),
                reply.count == 2, case .array(let keys) = reply[1], let next = reply[0].string
            else { throw TestError("SCAN reply") }
            seen.formUnion(keys.compactMap(\.string))
            cursor = next
            calls += 1
        } while cursor != "0" && calls < 10_000
        #expect(seen.count == 500)
        #expect(try client.call("SCAN", "abc") == .error("ERR invalid cursor"))
        #expect(try client.call("SCAN", "0", "COUNT", "0") == syntaxError)
        #expect(try client.call("SCAN", "0", "FOO", "1") == syntaxError)
        guard case .array(let typed) = try client.call("SCAN", "0", "TYPE", "hash", "COUNT", "1000"),
            case .array(let none) = typed[1]
        else { throw TestError("SCAN TYPE") }
        #expect(none.isEmpty)
        #expect(try client.call("RANDOMKEY").string != nil)
    }
}

@Suite struct ExpireCommandTests {
    @Test func expireFamilyWithConditions() throws {
        let now = Int(currentTimeMilliseconds() / 1000)
        try check([
            (["SET", "k", "v"], .ok),
            (["EXPIRE", "missing", "10"], .integer(0)),
            (["TTL", "missing"], .integer(-2)),
            (["PTTL", "k"], .integer(-1)),
            (["EXPIRE", "k", "100", "XX"], .integer(0)),
            (["EXPIRE", "k", "100", "GT"], .integer(0)),
            (["EXPIRE", "k", "100", "NX"], .integer(1)),
            (["EXPIRE", "k", "200", "NX"], .integer(0)),
            (["EXPIRE", "k", "50", "GT"], .integer(0)),
            (["EXPIRE", "k", "200", "GT"], .integer(1)),
            (["TTL", "k"], .integer(200)),
            (["EXPIRE", "k", "300", "LT"], .integer(0)),
            (["EXPIRE", "k", "150", "LT"], .integer(1)),
            (
                ["EXPIRE", "k", "1", "NX", "XX"],
                .error("ERR NX and XX, GT or LT options at the same time are not compatible")
            ),
            (["EXPIRE", "k", "1", "GT", "LT"], .error("ERR GT and LT options at the same time are not compatible")),
            (["EXPIRE", "k", "1", "FOO"], .error("ERR Unsupported option FOO")),
            (["EXPIRE", "k", "x"], notInteger),
            (["EXPIRE", "k", "9223372036854775807"], .error("ERR invalid expire time in 'expire' command")),
            (["PEXPIRE", "k", "100000"], .integer(1)),
            (["TTL", "k"], .integer(100)),
            (["EXPIREAT", "k", String(now + 1000)], .integer(1)),
            (["EXPIRETIME", "k"], .integer(Int64(now + 1000))),
            (["PEXPIREAT", "k", String((now + 500) * 1000)], .integer(1)),
            (["PEXPIRETIME", "k"], .integer(Int64((now + 500) * 1000))),
            (["EXPIRETIME", "nokey"], .integer(-2)),
            (["PERSIST", "k"], .integer(1)),
            (["PERSIST", "k"], .integer(0)),
            (["EXPIRETIME", "k"], .integer(-1)),
            (["SET", "p", "1", "PX", "5000", "GET"], .null),
            (["EXPIRE", "p", "-1"], .integer(1)),
            (["EXISTS", "p"], .integer(0)),
        ])
    }

    @Test func expiredKeysAreInvisibleAtOnceAndReclaimed() throws {
        let server = try TestServer()
        let client = try server.client()
        for i in 0..<200 { try client.call("SET", "t\(i)", "v", "PX", "30") }
        try client.call("SET", "keep", "v")
        usleep(80_000)
        #expect(try client.call("GET", "t1") == .null)
        #expect(try client.call("EXISTS", "t1", "t2") == .integer(0))
        #expect(try client.call("TTL", "t3") == .integer(-2))
        // The active cycle reclaims the rest without anyone reading them (bounded wait, not a speed check).
        #expect(waitUntil { server.state.keyspace.keyCounts()[0].keys == 1 })
        guard case .verbatim(let info) = try client.call("INFO", "stats") else {
            guard case .bulk(let bytes) = try client.call("INFO", "stats") else { throw TestError("INFO") }
            #expect(String(decoding: bytes, as: UTF8.self).contains("expired_keys:200"))
            return
        }
        #expect(info.contains("expired_keys:200"))
    }
}

@Suite struct ConnectionAndServerCommandTests {
    @Test func basics() throws {
        try check([
            (["PING"], .simple("PONG")),
            (["PING", "hi"], .bulk("hi")),
            (["PING", "a", "b"], .error("ERR wrong number of arguments for 'ping' command")),
            (["ECHO", "x"], .bulk("x")),
            (["NOSUCH", "a", "b"], .error("ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' ")),
            (["get"], .error("ERR wrong number of arguments for 'get' command")),
            (
                ["CLIENT", "SETNAME", "my name"],
                .error("ERR Client names cannot contain spaces, newlines or special characters.")
            ),
            (["CLIENT", "SETNAME", "worker"], .ok),
            (["CLIENT", "GETNAME"], .bulk("worker")),
            (["CLIENT", "NOSUCH"], .error("ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.")),
            (["CLIENT", "SETNAME"], .error("ERR wrong number of arguments for 'client|setname' command")),
            (["CLIENT", "SETINFO", "LIB-NAME", "test"], .ok),
            (["CLIENT", "SETINFO", "FOO", "x"], .error("ERR Unrecognized option 'FOO'")),
            (["CLIENT", "KILL", "1.2.3.4:5"], .error("ERR No such client")),
            (["CLIENT", "KILL", "ID", "999999"], .integer(0)),
            (
                ["AUTH", "pw"],
                .error(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
                )
            ),
            (["AUTH", "default", "anything"], .ok),
            (["HELLO", "4"], .error("NOPROTO unsupported protocol version")),
            (["HELLO", "x"], .error("ERR Protocol version is not an integer or out of range")),
            (["CONFIG", "GET", "port"], .array([.bulk("port"), .bulk("0")])),
            (
                ["CONFIG", "SET", "port", "7000"],
                .error("ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config")
            ),
            (
                ["CONFIG", "SET", "nosuch", "1"],
                .error("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'")
            ),
            (
                ["CONFIG", "SET", "maxmemory", "abc"],
                .error(
                    "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
                )
            ),
            (["CONFIG", "SET", "maxmemory", "100mb", "timeout", "30"], .ok),
            (["CONFIG", "GET", "maxmemory"], .array([.bulk("maxmemory"), .bulk("104857600")])),
            (
                ["CONFIG", "SET", "timeout", "5", "maxmemory", "x"],
                .error(
                    "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
                )
            ),
            (["CONFIG", "GET", "timeout"], .array([.bulk("timeout"), .bulk("30")])),
            (["CONFIG", "SET", "save", ""], .ok),
            (["CONFIG", "GET", "save"], .array([.bulk("save"), .bulk("")])),
            (["DEBUG", "SLEEP", "0"], .ok),
            (["SHUTDOWN", "ABORT"], .error("ERR No shutdown in progress.")),
        ])
    }

    @Test func resp3AfterHello() throws {
        let server = try TestServer()
        let client = try server.client()
        guard case .map(let hello) = try client.call("HELLO", "3") else { throw TestError("HELLO 3 must answer a map") }
        #expect(hello.first { $0.0 == .bulk("proto") }?.1 == .integer(3))
        #expect(try client.call("GET", "missing") == .null)
        #expect(try client.call("CONFIG", "GET", "databases") == .map([(.bulk("databases"), .bulk("16"))]))
        guard case .verbatim(let info) = try client.call("INFO", "server") else { throw TestError("INFO verbatim") }
        #expect(info.contains("redis_version:"))
        // HELLO answers in the protocol it switches to: back in RESP2 the map is a flat array of 7 pairs.
        guard case .array(let flat) = try client.call("HELLO", "2") else { throw TestError("HELLO 2 answers in RESP2") }
        #expect(flat.count == 14)
        #expect(try client.call("GET", "missing") == .null)
    }

    @Test func commandIntrospectionComesFromTheTable() throws {
        let server = try TestServer()
        let client = try server.client()
        let table = CommandTable.standard
        #expect(try client.call("COMMAND", "COUNT") == .integer(Int64(table.commands.count)))
        guard case .array(let info) = try client.call("COMMAND", "INFO", "get", "nosuch") else {
            throw TestError("INFO")
        }
        #expect(info.count == 2)
        #expect(info[1] == .null)
        guard case .array(let get) = info[0] else { throw TestError("get info") }
        #expect(get[0] == .bulk("get"))
        #expect(get[1] == .integer(2))
        guard case .array(let docs) = try client.call("COMMAND", "DOCS", "set") else { throw TestError("DOCS") }
        #expect(docs.first == .bulk("set"))
        guard case .array(let all) = try client.call("COMMAND") else { throw TestError("COMMAND") }
        #expect(all.count == table.commands.count)
        guard case .array(let list) = try client.call("COMMAND", "LIST", "FILTERBY", "PATTERN", "client*") else {
            throw TestError("LIST")
        }
        #expect(list.contains(.bulk("client|list")))
    }

    /// Invariants of the table itself: unique names, sane arity and key positions, every command documented.
    @Test func everyCommandHasCompleteMetadata() {
        var names = Set<String>()
        for command in CommandTable.standard.flattened {
            #expect(names.insert(command.fullName).inserted, "duplicate \(command.fullName)")
            #expect(command.arity != 0, "\(command.fullName) arity")
            #expect(!command.summary.isEmpty && !command.group.isEmpty && !command.since.isEmpty)
            #expect(command.handler != nil || !command.subcommands.isEmpty, "\(command.fullName) has no handler")
            if command.flags.contains(.write) { #expect(!command.flags.contains(.readonly)) }
            if command.firstKey > 0 { #expect(command.keyStep > 0) }
        }
    }

    @Test func infoSections() throws {
        let server = try TestServer()
        let client = try server.client()
        try client.call("SET", "a", "1")
        try client.call("GET", "a")
        try client.call("GET", "zz")
        guard let all = try client.call("INFO", "all").string else { throw TestError("INFO") }
        for field in [
            "# Server", "redis_version:", "tcp_port:\(server.port)", "connected_clients:1", "used_memory:",
            "used_memory_rss:", "maxmemory_policy:noeviction", "keyspace_hits:1", "keyspace_misses:1",
            "cmdstat_get:calls=2", "db0:keys=1,expires=0", "rdb_changes_since_last_save:1", "role:master",
        ] {
            #expect(all.contains(field), "INFO lacks \(field)")
        }
        guard let keyspaceOnly = try client.call("INFO", "keyspace").string else { throw TestError("INFO") }
        #expect(!keyspaceOnly.contains("# Server"))
        #expect(try client.call("CONFIG", "RESETSTAT") == .ok)
        guard let reset = try client.call("INFO", "stats").string else { throw TestError("INFO") }
        #expect(reset.contains("keyspace_hits:0"))
    }
}

@Suite struct PasswordTests {
    /// Only the exact password matches: not a prefix, not an extension, not one padded with NULs (a length
    /// difference of 256 once folded to zero in a byte-wide comparison).
    @Test func onlyTheExactPasswordMatches() {
        func matches(_ given: [UInt8]) -> Bool { given.withUnsafeBytes { passwordsMatch($0, "s3cret") } }
        #expect(matches(Array("s3cret".utf8)))
        for wrong in ["", "s3cre", "s3cret!", "S3cret", "s3crex"] { #expect(!matches(Array(wrong.utf8)), "\(wrong)") }
        #expect(!matches(Array("s3cret".utf8) + [UInt8](repeating: 0, count: 256)))
        #expect(!matches(Array("s3cret".utf8) + [UInt8](repeating: 0, count: 1)))
    }
}
