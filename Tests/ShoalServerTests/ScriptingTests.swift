import Foundation
import RESP
import ShoalServer
import Synchronization
import Testing

/// EVAL's value conversions, the sandbox, and atomicity of scripts run from many threads at once (the suite
/// runs under ThreadSanitizer too). Replies are Redis 7.0.15's for the same scripts.
@Suite struct ScriptingTests {
    @Test func luaValuesBecomeRedisReplies() throws {
        try check([
            (["EVAL", "return 3.99", "0"], .integer(3)),
            (["EVAL", "return -3.99", "0"], .integer(-3)),
            (["EVAL", "return 1/0", "0"], .integer(Int64.min)),
            (["EVAL", "return true", "0"], .integer(1)),
            (["EVAL", "return false", "0"], .null),
            (["EVAL", "return nil", "0"], .null),
            (["EVAL", "return 'text'", "0"], .bulk("text")),
            (["EVAL", "return {1, 'two', {3}, nil, 5}", "0"], .array([.integer(1), .bulk("two"), .array([.integer(3)])])),
            (["EVAL", "return {ok = 'FINE'}", "0"], .simple("FINE")),
            (["EVAL", "return {err = 'MYERR text'}", "0"], .error("MYERR text")),
            (["EVAL", "return redis.error_reply('x')", "0"], .error("ERR x")),
            (["EVAL", "return redis.status_reply('a\\r\\nb')", "0"], .simple("a  b")),
            (["EVAL", "return {double = 1.5}", "0"], .bulk("1.5")),
            (["EVAL", "return KEYS[1] .. ARGV[1] .. #ARGV", "1", "k", "a", "b"], .bulk("ka2")),
        ])
    }

    @Test func redisRepliesBecomeLuaValues() throws {
        try check([
            (["SET", "s", "v"], .ok),
            (["RPUSH", "l", "a", "b"], .integer(2)),
            (["EVAL", "return type(redis.call('get', 'missing'))", "0"], .bulk("boolean")),
            (["EVAL", "return redis.call('set', 's', 'w').ok", "0"], .bulk("OK")),
            (["EVAL", "return type(redis.call('incr', 'n'))", "0"], .bulk("number")),
            (["EVAL", "return redis.pcall('incr', 's').err", "0"], .bulk("ERR value is not an integer or out of range")),
            (["EVAL", "return #redis.call('lrange', 'l', 0, -1)", "0"], .integer(2)),
            (["EVAL", "redis.setresp(3) return redis.call('hgetall', 'nohash').map == nil", "0"], .integer(0)),
            (["EVAL", "redis.setresp(3) return type(redis.call('get', 'missing'))", "0"], .bulk("nil")),
        ], on: try TestServer { $0.luaUndeclaredKeys = "lock-all" })
    }

    @Test func theSandboxIsRedis() throws {
        func raised(_ text: String, _ sha: String) -> RESPValue {
            .error("ERR user_script:1: \(text) script: \(sha), on @user_script:1.")
        }
        try check([
            (["EVAL", "x = 1", "0"], raised("Attempt to modify a readonly table", "34bce5f775de97f557a34088509c8bfe1ea17e52")),
            (["EVAL", "return y", "0"],
                raised("Script attempted to access nonexistent global variable 'y'", "e278681ed961e2fb52881313e5c90fdd93749940")),
            (["EVAL", "return os.time()", "0"],
                raised("Script attempted to access nonexistent global variable 'os'", "13dea82ee9da896aebcd10f5e36f4a1eeb839b48")),
            (["EVAL", "redis = nil", "0"], raised("Attempt to modify a readonly table", "f3fd7dd12033660a6251e9580faba253187a8a12")),
            // Nothing a script did to the globals survives into the next script.
            (["EVAL", "return type(redis.call)", "0"], .bulk("function")),
            (["EVAL", "return cjson.decode('[1,2]')[2]", "0"], .integer(2)),
            (["EVAL", "return redis.sha1hex('')", "0"], .bulk("da39a3ee5e6b4b0d3255bfef95601890afd80709")),
            (["EVAL", "return redis.call('nosuch')", "0"],
                .error("ERR Unknown Redis command called from script script: 206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1.")),
        ])
    }

    /// Pairs of counters bumped together by scripts from several threads, and readers checking that the two
    /// never differ, over shards held by the script: exact totals and no torn read.
    @Test func scriptsOnSharedAndDisjointKeysAreAtomic() throws {
        let server = try TestServer()
        let pair = "local a = redis.call('incr', KEYS[1]) local b = redis.call('incr', KEYS[2]) return a - b"
        let check = "return redis.call('get', KEYS[1]) == redis.call('get', KEYS[2]) and 1 or 0"
        let (first, second) = keysInDifferentShards(server, prefix: "pair")
        let failures = Atomic<Int>(0)
        let rounds = 150
        DispatchQueue.concurrentPerform(iterations: 6) { worker in
            do {
                let client = try server.client()
                for _ in 0..<rounds {
                    switch worker {
                    case 0, 1, 2:
                        if try client.call("EVAL", pair, "2", first, second) != .integer(0) {
                            failures.add(1, ordering: .relaxed)
                        }
                    case 3:
                        if try client.call("EVAL", check, "2", first, second) != .integer(1) {
                            failures.add(1, ordering: .relaxed)
                        }
                    default:
                        _ = try client.call("EVAL", pair, "2", "own\(worker):a", "own\(worker):b")
                    }
                }
            } catch {
                failures.add(1, ordering: .relaxed)
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        let client = try server.client()
        #expect(try client.call("MGET", first, second) == .array([.bulk("450"), .bulk("450")]))
        #expect(try client.call("GET", "own4:b") == .bulk("\(rounds)"))
    }

    /// Scripts from sessions of no loop (the embedded library) use pooled engines, from any thread.
    @Test func detachedSessionsRunScriptsFromManyThreads() throws {
        let server = try TestServer()
        let embedded = EmbeddedClient(state: server.state)
        let script = Array("return redis.call('incrby', KEYS[1], ARGV[1])".utf8)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<100 { _ = embedded.call([Array("EVAL".utf8), script, Array("1".utf8), Array("n".utf8), Array("2".utf8)]) }
        }
        #expect(try server.client().call("GET", "n") == .bulk("800"))
    }
}
