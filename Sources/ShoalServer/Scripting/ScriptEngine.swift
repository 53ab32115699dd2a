import CLua
import CShoalLua
import RESP
import ShoalPosix
import ShoalStore

#if canImport(Glibc)
    import Glibc
#endif

// One Lua interpreter per event loop (a lua_State is not thread-safe; loops never share one), with the
// sandbox and the `redis` library Redis gives scripts. A script runs inside the shards its caller locked for
// it (`ScriptRun.group`): every `redis.call` goes through the ordinary dispatcher with a pre-locked `Store`,
// on the engine's own client (Redis's "lua client"), and its reply is read back into Lua values.

/// A script's flags: `#!lua flags=...` on an EVAL body, or `flags = {...}` of `redis.register_function`.
struct ScriptFlags: OptionSet, Sendable {
    let rawValue: Int
    static let noWrites = ScriptFlags(rawValue: 1 << 0)
    static let allowOOM = ScriptFlags(rawValue: 1 << 1)
    static let allowStale = ScriptFlags(rawValue: 1 << 2)
    static let noCluster = ScriptFlags(rawValue: 1 << 3)
    static let allowCrossSlotKeys = ScriptFlags(rawValue: 1 << 4)
    /// The body began with a `#!lua` line (Redis 7 checks OOM for such scripts before they start).
    static let shebang = ScriptFlags(rawValue: 1 << 5)

    static let names: [(String, ScriptFlags)] = [
        ("no-writes", .noWrites), ("allow-oom", .allowOOM), ("allow-stale", .allowStale), ("no-cluster", .noCluster),
        ("allow-cross-slot-keys", .allowCrossSlotKeys),
    ]

    var names: [String] { Self.names.compactMap { contains($0.1) ? $0.0 : nil } }
}

/// What one running script reaches: its caller, the shards held for it, the keys it declared.
final class ScriptRun {
    let caller: ClientSession
    let group: ShardGroup
    /// The caller's database, where the declared keys are.
    let database: Int
    /// The request, and the positions of the keys the script declared in it.
    let args: Arguments
    let declared: Range<Int>
    /// EVAL_RO, FCALL_RO, or a script flagged no-writes: write commands are refused.
    let readOnly: Bool
    let flags: ScriptFlags
    /// Every shard of every database is held (`lua-undeclared-keys lock-all`): no key checks.
    let holdsEverything: Bool
    /// Undeclared keys may be retried with every shard held (lock-all): a stray reach before any write
    /// restarts the script instead of failing it.
    let mayRestart: Bool
    let now: Milliseconds
    let startedNanoseconds = monotonicNanoseconds()
    let isFunction: Bool
    /// The function's name, or the script's SHA1.
    let name: String
    /// Past busy-reply-threshold: registered where other clients and SCRIPT KILL can see it.
    var busy: BusyScript?
    var wrote = false
    /// A key outside the declared ones was reached.
    var strayed = false
    var restartWithEverything = false

    init(
        caller: ClientSession, group: ShardGroup, database: Int, args: Arguments, declared: Range<Int>, readOnly: Bool,
        flags: ScriptFlags, holdsEverything: Bool, mayRestart: Bool, now: Milliseconds, isFunction: Bool,
        name: String
    ) {
        self.name = name
        self.caller = caller
        self.group = group
        self.database = database
        self.args = args
        self.declared = declared
        self.readOnly = readOnly
        self.flags = flags
        self.holdsEverything = holdsEverything
        self.mayRestart = mayRestart
        self.now = now
        self.isFunction = isFunction
    }

    func declares(_ key: UnsafeRawBufferPointer) -> Bool {
        declared.contains { index in
            let declaredKey = args[index]
            return declaredKey.count == key.count
                && (key.count == 0 || memcmp(declaredKey.baseAddress!, key.baseAddress!, key.count) == 0)
        }
    }
}

/// Lua instructions between two looks at the clock and at SCRIPT KILL (Redis's hook period).
let checkEvery: Int32 = 100_000

final class ScriptEngine {
    /// The engine's own state.
    let main: Lua
    /// The state Lua is calling in with now: `main`, or a coroutine's thread (a host function works on the
    /// stack of the thread that called it). Set on every entry from Lua, back to `main` after every call into it.
    @exclusivity(unchecked) private(set) var lua: Lua
    unowned(unsafe) let server: ServerState
    /// The client every `redis.call` runs on (Redis's Lua client).
    let client: ClientSession
    // The engine belongs to one thread; these are touched on every redis.call: no dynamic exclusivity checks.
    /// The script running now, if any.
    @exclusivity(unchecked) private(set) var run: ScriptRun?
    private var scriptsGeneration = -1
    var functionsGeneration = -1
    /// Functions this engine has loaded (name → flags); their callbacks are in the registry.
    var loadedFunctions: [String: RegisteredFunction] = [:]
    /// While FUNCTION LOAD runs a library: the functions it registered so far, and when it started.
    var registering: [RegisteredFunction]?
    var loadStarted: Int64 = 0
    @exclusivity(unchecked) private var arguments: [UInt8] = []
    /// The heap size this engine last added to `Scripting.luaMemory`.
    private var reportedMemory = 0

    /// Brings `Scripting.luaMemory` up to date with this engine's heap.
    func reportMemory() {
        let now = shoal_lua_memory(main.state)
        server.scripting.luaMemory.wrappingAdd(now - reportedMemory, ordering: .relaxed)
        reportedMemory = now
    }
    @exclusivity(unchecked) private var spans: [ArgSpan] = []

    init(server: ServerState, stats: LoopStats) {
        self.server = server
        let handle = ClientHandle(
            id: 0, address: "lua", localAddress: "lua", fd: -1, loopIndex: server.ioThreads,
            now: currentTimeMilliseconds())
        client = ClientSession(handle: handle, authenticated: true, stats: stats, settings: SettingsView(server.config))
        guard let state = shoal_lua_open(nil) else { fatalError("Lua: out of memory creating a state") }
        main = Lua(state: state)
        lua = main
        shoal_lua_set_host(state, Unmanaged.passUnretained(self).toOpaque())
        installLibrary()
    }

    deinit {
        server.scripting.luaMemory.wrappingAdd(-reportedMemory, ordering: .relaxed)
        shoal_lua_close(main.state)
    }

    /// The engine a host function or hook was called for, working on the calling thread's stack.
    static func of(_ state: OpaquePointer?) -> ScriptEngine {
        let engine = Unmanaged<ScriptEngine>.fromOpaque(shoal_lua_host(state!)!).takeUnretainedValue()
        engine.lua = Lua(state: state!)
        return engine
    }

    /// A protected call on the engine's own state.
    func protectedCall(_ arguments: Int32, _ results: Int32, handler: Int32) -> Int32 {
        let status = shoal_lua_pcall(main.state, arguments, results, handler)
        lua = main
        return status
    }

    // MARK: - The redis library

    private func installLibrary() {
        lua.newTable()
        let functions: [(String, shoal_lua_host_function)] = [
            ("call", { ScriptEngine.of($0).call(raising: true) }),
            ("pcall", { ScriptEngine.of($0).call(raising: false) }),
            ("error_reply", { ScriptEngine.of($0).statusTable("err") }),
            ("status_reply", { ScriptEngine.of($0).statusTable("ok") }),
            ("sha1hex", { ScriptEngine.of($0).sha1hex() }),
            ("acl_check_cmd", { ScriptEngine.of($0).aclCheck() }),
            ("log", { ScriptEngine.of($0).log() }),
            ("setresp", { ScriptEngine.of($0).setResp() }),
            ("set_repl", { ScriptEngine.of($0).setReplication() }),
            ("replicate_commands", { state in
                lua_pushboolean(state, 1)
                return 1
            }),
            ("breakpoint", { state in
                lua_pushboolean(state, 0)
                return 1
            }),
            ("debug", { _ in 0 }),
        ]
        for (name, function) in functions {
            lua.push(function)
            lua.setField(name, in: -2)
        }
        let constants: [(String, Double)] = [
            ("LOG_DEBUG", 0), ("LOG_VERBOSE", 1), ("LOG_NOTICE", 2), ("LOG_WARNING", 3), ("REPL_NONE", 0),
            ("REPL_AOF", 1), ("REPL_SLAVE", 2), ("REPL_REPLICA", 2), ("REPL_ALL", 3),
            ("REDIS_VERSION_NUM", Double(redisVersionNumber)),
        ]
        for (name, value) in constants {
            lua.push(value)
            lua.setField(name, in: -2)
        }
        lua.push(redisCompatibilityVersion)
        lua.setField("REDIS_VERSION", in: -2)
        lua.setField("redis", in: Lua.globals)
        // Redis's own seedable generator for math.random, reset before every script.
        lua.getField("math", in: Lua.globals)
        lua.push { ScriptEngine.of($0).random() }
        lua.setField("random", in: -2)
        lua.push { ScriptEngine.of($0).randomSeed() }
        lua.setField("randomseed", in: -2)
        lua.pop()
        lua.newTable()
        store(in: Slot.scripts)
        lua.newTable()
        store(in: Slot.functions)
        var code = luaSandbox
        let status = code.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { shoal_lua_load(lua.state, $0.baseAddress, $0.count, "@sandbox") }
        }
        guard status == 0, shoal_lua_pcall(lua.state, 0, 2, 0) == 0 else {
            fatalError("Lua: the sandbox did not load: \(lua.string(at: -1) ?? "")")
        }
        lua.getField("__redis__err__handler", in: -1)
        store(in: Slot.errorHandler)
        store(in: Slot.globals)
        store(in: Slot.libraryEnvironment)
    }

    /// Pushes the globals table behind the read-only proxy scripts see (KEYS and ARGV are set in it).
    func pushGlobals() { load(Slot.globals) }

    /// Pushes the message handler every script and library runs under; returns its stack index.
    func pushErrorHandler() -> Int32 {
        load(Slot.errorHandler)
        return lua.top
    }

    /// Registry slots (integer keys from luaL_ref: no string to hash on every script).
    enum Slot {
        static let count = 5
        static let scripts = 0, functions = 1, globals = 2, libraryEnvironment = 3, errorHandler = 4
    }

    private(set) var slots: [Int32] = []

    /// Pops the top value into registry slot `slot`.
    func store(in slot: Int) {
        while slots.count < Slot.count {
            lua.push(false)
            slots.append(luaL_ref(lua.state, Lua.registry))
        }
        lua_rawseti(lua.state, Lua.registry, slots[slot])
    }

    func load(_ slot: Int) { lua_rawgeti(lua.state, Lua.registry, slots[slot]) }

    /// The error value for a failed `redis.call`: a table `{err = text}`, raised or returned.
    func fail(_ text: String, raising: Bool) -> Int32 {
        lua.newTable(fields: 2)
        lua.push(text)
        lua.setField("err", in: -2)
        if !raising {
            lua.push(true)
            lua.setField("ignore_error_stats_update", in: -2)
        }
        return raising ? -1 : 1
    }

    /// A plain Lua error (a string), raised by the trampoline.
    func raise(_ text: String) -> Int32 {
        lua.push(text)
        return -1
    }

    /// A Lua library's kind of error: prefixed with where the calling script is (`user_script:1: ...`), as
    /// luaL_error does.
    private func raiseWithPosition(_ text: String) -> Int32 {
        luaL_where(lua.state, 1)
        lua.push(text)
        lua_concat(lua.state, 2)
        return -1
    }

    private func call(raising: Bool) -> Int32 {
        let count = lua.top
        guard let run, count > 0 else {
            return fail("ERR Please specify at least one argument for this redis lib call", raising: raising)
        }
        arguments.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
        for index in 1...count {
            let start = arguments.count
            switch lua.type(at: index) {
            case LUA_TSTRING:
                arguments.append(contentsOf: lua.bytes(at: index)!)
            case LUA_TNUMBER:
                // Redis formats number arguments with %.17g (0.1 is "0.10000000000000001"), integers plainly.
                arguments += cFormat("%.17g", [lua.number(at: index)])
            default:
                return fail("ERR Lua redis lib command arguments must be strings or integers", raising: raising)
            }
            spans.append(ArgSpan(offset: start, count: arguments.count - start))
        }
        let mark = client.out.count
        let refusal: String? = arguments.withUnsafeBytes { base in
            spans.withUnsafeBufferPointer { spans in
                execute(Arguments(base: base.baseAddress, spans: spans), in: run)
            }
        }
        if let refusal {
            client.out.truncate(to: mark)
            return fail(refusal, raising: raising)
        }
        defer { client.out.truncate(to: mark) }
        let isError = client.out.bytes.count > mark && client.out.bytes[mark] == UInt8(ascii: "-")
        client.out.bytes.withUnsafeBytes { reply in
            var position = mark
            lua.pushReply(reply, &position)
        }
        if isError && !raising {
            lua.push(true)
            lua.setField("ignore_error_stats_update", in: -2)
        }
        return isError && raising ? -1 : 1
    }

    /// Runs one command of the script on the engine's client; a refusal's text when it may not run.
    private func execute(_ args: Arguments, in run: ScriptRun) -> String? {
        guard var command = server.commands.lookup(args[0]) else { return "ERR Unknown Redis command called from script" }
        if !command.subcommands.isEmpty && args.count >= 2 {
            guard let sub = command.subcommands.first(where: { args.matchesLowercased(1, $0.name) }) else {
                return CommandError.unknownSubcommand(args.string(1), of: command.name).text
            }
            command = sub
        }
        guard command.acceptsArgumentCount(args.count), command.handler != nil else {
            return "ERR Wrong number of args calling Redis command from script"
        }
        if command.flags.contains(.noscript) { return "ERR This Redis command is not allowed from script" }
        let writes = command.flags.contains(.write)
        if run.readOnly && (command.name == "publish" || command.name == "spublish") {
            return "ERR Write commands are not allowed from read-only scripts."
        }
        if writes {
            if run.readOnly { return "ERR Write commands are not allowed from read-only scripts." }
            if server.snapshots.writesBlocked.load(ordering: .relaxed) { return CommandError.misconf.text }
        }
        if command.flags.contains(.denyOOM) && !run.flags.contains(.allowOOM),
            server.evictIfOverLimit(now: run.now, settings: client.settings.current) == .nothingEvictable
        {
            return CommandError.outOfMemory.text
        }
        if !run.holdsEverything, let stray = strayKey(command, args, run) {
            run.strayed = true
            if run.mayRestart && !run.wrote { run.restartWithEverything = true }
            return "ERR Script attempted to access a key not declared in KEYS: '\(stray)' (declare every key a "
                + "script uses, or set lua-undeclared-keys lock-all)"
        }
        server.invoke(command, client, args, now: run.now, store: Store(holding: run.group))
        if writes { run.wrote = true }
        return nil
    }

    /// The first key `command` reaches that the script did not declare (or the database it reaches whole),
    /// or nil when everything it reaches is declared.
    private func strayKey(_ command: Command, _ args: Arguments, _ run: ScriptRun) -> String? {
        for index in command.keyIndices(args) where client.database != run.database || !run.declares(args[index]) {
            return args.string(index)
        }
        // Most commands reach exactly their keys; the few that reach more (whole databases, another database,
        // SORT's patterns) are planned as EXEC plans them.
        guard command.reachesBeyondItsKeys else { return nil }
        let plan = TransactionPlan(
            queue: [QueuedCommand(command, args)], database: client.database, watched: [], keyspace: server.keyspace)
        if plan.ids.allSatisfy({ run.group.holds($0) }) { return nil }
        return "(every key of database \(client.database))"
    }

    /// redis.error_reply / redis.status_reply: `{err = ...}` / `{ok = ...}`. An error without a code (no space)
    /// gets `ERR `; a leading `-` goes.
    private func statusTable(_ field: String) -> Int32 {
        guard lua.top == 1, lua.type(at: 1) == LUA_TSTRING, var text = lua.string(at: 1) else {
            return fail("ERR wrong number or type of arguments", raising: false)
        }
        lua.newTable(fields: 1)
        if field == "err" {
            if text.hasPrefix("-") { text.removeFirst() }
            if !text.utf8.contains(UInt8(ascii: " ")) { text = "ERR " + text }
            lua.push(text)
        } else {
            lua.pushValue(1)
        }
        lua.setField(field, in: -2)
        return 1
    }

    private func sha1hex() -> Int32 {
        guard lua.top == 1 else { return raise("wrong number of arguments") }
        // What is not a string or number hashes as the empty string, as Redis.
        lua.push(SHA1.hex(lua.type(at: 1) == LUA_TSTRING || lua.type(at: 1) == LUA_TNUMBER ? Array(lua.bytes(at: 1)!) : []))
        return 1
    }

    /// redis.acl_check_cmd: Shoal has one user who may run everything, so any known command with a valid
    /// argument count is allowed.
    private func aclCheck() -> Int32 {
        guard lua.top > 0 else { return fail("ERR Please specify at least one argument for this redis lib call", raising: true) }
        guard let name = lua.bytes(at: 1), let command = server.commands.lookup(name) else {
            return fail("ERR Invalid command passed to redis.acl_check_cmd()", raising: true)
        }
        _ = command
        lua.push(true)
        return 1
    }

    private func log() -> Int32 {
        guard lua.top >= 2 else { return raise("redis.log() requires two arguments or more.") }
        guard lua.type(at: 1) == LUA_TNUMBER else { return raise("First argument must be a number (log level).") }
        let level = Int(lua.number(at: 1))
        guard (0...3).contains(level) else { return raise("Invalid debug level.") }
        var message = ""
        for index in 2...lua.top {
            if index > 2 { message += " " }
            message += lua.string(at: index) ?? ""
        }
        switch level {
        case 3: server.logger.warning("\(message)")
        case 2: server.logger.notice("\(message)")
        case 1: server.logger.info("\(message)")
        default: server.logger.debug("\(message)")
        }
        return 0
    }

    private func setResp() -> Int32 {
        guard lua.top == 1 else { return raise("redis.setresp() requires one argument.") }
        let version = Int(lua.number(at: 1))
        guard version == 2 || version == 3 else { return raise("RESP version must be 2 or 3.") }
        client.protocolVersion = version
        return 0
    }

    /// redis.set_repl: Shoal does not replicate; the flags are checked as Redis checks them (its text for a
    /// wrong argument count included).
    private func setReplication() -> Int32 {
        guard lua.top == 1 else { return raise("redis.set_repl() requires two arguments.") }
        let flags = Int(lua.number(at: 1))
        guard (0...3).contains(flags) else {
            return raise("Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
        }
        return 0
    }

    // MARK: - math.random: Redis's deterministic generator (a 48-bit linear congruential one)

    private var randomState: UInt64 = 0x330E

    private func seedRandom(_ seed: UInt32) { randomState = UInt64(seed) << 16 | 0x330E }

    private func nextRandom() -> Int32 {
        randomState = (randomState &* 0x5_DEEC_E66D &+ 0xB) & 0xFFFF_FFFF_FFFF
        return Int32(truncatingIfNeeded: randomState >> 17)
    }

    private func random() -> Int32 {
        // As Lua's math.random over Redis's generator: [0,1), [1,m], or [m,n].
        let fraction = Double(nextRandom() % Int32.max) / Double(Int32.max)
        switch lua.top {
        case 0: lua.push(fraction)
        case 1:
            let upper = lua.number(at: 1)
            guard upper >= 1 else { return raiseWithPosition("bad argument #1 to 'random' (interval is empty)") }
            lua.push((fraction * upper).rounded(.down) + 1)
        case 2:
            let lower = lua.number(at: 1)
            let upper = lua.number(at: 2)
            guard lower <= upper else { return raiseWithPosition("bad argument #2 to 'random' (interval is empty)") }
            lua.push((fraction * (upper - lower + 1)).rounded(.down) + lower)
        default: return raiseWithPosition("wrong number of arguments")
        }
        return 1
    }

    private func randomSeed() -> Int32 {
        seedRandom(UInt32(truncatingIfNeeded: Int64(lua.number(at: 1))))
        return 0
    }

    // MARK: - Running

    /// Runs the function on top of the stack (with `argumentCount` arguments above it) as `run`, and writes its
    /// result, or its error, to the caller's replies. A stray key reached under lock-all before any write asks
    /// for a rerun: returns false and writes nothing.
    func execute(_ run: ScriptRun, argumentCount: Int32) -> Bool {
        self.run = run
        client.database = run.database
        client.protocolVersion = 2
        client.settings.refresh()
        let settings = client.settings.current
        let handler = pushErrorHandler()
        lua_insert(lua.state, handler - 1 - argumentCount)
        shoal_lua_set_memory_limit(lua.state, settings.luaMemoryLimit)
        shoal_lua_set_check(lua.state, { ScriptEngine.of($0).checkRunning() }, checkEvery)
        let status = protectedCall(argumentCount, 1, handler: handler - 1 - argumentCount)
        shoal_lua_set_check(lua.state, nil, 0)
        shoal_lua_set_memory_limit(lua.state, 0)
        // What a big script left is garbage now: collect it before the next script meets the bound.
        if settings.luaMemoryLimit > 0 && shoal_lua_memory(lua.state) > settings.luaMemoryLimit / 2 {
            lua_gc(lua.state, LUA_GCCOLLECT, 0)
        }
        self.run = nil
        if let busy = run.busy { server.scripting.endBusy(busy) }
        defer { lua.top = 0 }
        if run.restartWithEverything { return false }
        if status == 0 {
            lua.writeReply(at: lua.top, to: &run.caller.out, scriptResp3: client.protocolVersion == 3)
        } else {
            run.caller.out.error(scriptErrorText(status: status, run: run))
        }
        // What the script's commands left to do once no shard is held runs after the caller's command.
        client.runDeferredWork()
        reportMemory()
        return true
    }

    /// The error reply of a script that raised the value on top of the stack (a table from the message
    /// handler): its text, and where it was raised, as Redis 7 adds ` script: <name>, on @user_script:<line>.`.
    private func scriptErrorText(status: Int32, run: ScriptRun) -> String {
        let top = lua.top
        guard lua.type(at: top) == LUA_TTABLE, let text = lua.stringField("err", of: top) else {
            let message = lua.string(at: top) ?? "unknown error"
            let source = run.isFunction ? "@user_function" : "@user_script"
            return "ERR \(message) (lua-memory-limit is \(client.settings.current.luaMemoryLimit) bytes) script: "
                + "\(run.name), on \(source)."
        }
        var suffix = ""
        if let source = lua.stringField("source", of: top) {
            lua.getField("line", in: top)
            suffix = " script: \(run.name), on \(source):\(Int(lua.number(at: -1)))."
            lua.pop()
        }
        return text.replacingNewlines() + suffix
    }

    /// The instruction hook: past the threshold, the script becomes visible as busy; once killed, it aborts.
    private func checkRunning() -> Int32 {
        guard let run else { return 0 }
        if run.busy == nil {
            let elapsed = (monotonicNanoseconds() - run.startedNanoseconds) / 1_000_000
            let threshold = client.settings.current.busyReplyThreshold
            if threshold > 0 && elapsed >= threshold { run.busy = server.scripting.beginBusy(run) }
        }
        guard let busy = run.busy else { return 0 }
        busy.wrote.store(run.wrote, ordering: .relaxed)
        server.scripting.serveWhileBusy(run, busy)
        guard busy.killRequested.load(ordering: .relaxed) else { return 0 }
        lua.newTable(fields: 1)
        lua.push("ERR Script killed by user with \(run.isFunction ? "FUNCTION" : "SCRIPT") KILL...")
        lua.setField("err", in: -2)
        return 1
    }

    // MARK: - Compiling

    /// Pushes the compiled EVAL script `sha` (compiling `body` on first use here); the compile error otherwise.
    func pushScript(sha: String, body: [UInt8], generation: Int) -> String? {
        if generation != scriptsGeneration {
            lua.newTable()
            store(in: Slot.scripts)
            scriptsGeneration = generation
        }
        load(Slot.scripts)
        lua.getField(sha, in: -1)
        if lua.type(at: -1) == LUA_TFUNCTION {
            lua_remove(lua.state, -2)
            return nil
        }
        lua.pop()
        let status = compile(body, name: "@user_script")
        guard status == 0 else {
            let message = lua.string(at: -1) ?? "error"
            lua.pop(2)
            return message
        }
        lua.pushValue(-1)
        lua.setField(sha, in: -3)
        lua_remove(lua.state, -2)
        return nil
    }

    /// Compiles a script body or library (what follows its `#!` line, whose newline stays: line numbers are the
    /// body's) and pushes the chunk, or the error text; Lua's status.
    func compile(_ code: [UInt8], name: String) -> Int32 {
        code.withUnsafeBufferPointer { code in
            code.withMemoryRebound(to: CChar.self) { code in
                let skip = shebangLength(code)
                return shoal_lua_load(lua.state, code.baseAddress.map { $0 + skip }, code.count - skip, name)
            }
        }
    }

}

/// Redis's version as a number (7.0.15 → 0x07000f), as `redis.REDIS_VERSION_NUM`.
let redisVersionNumber: Int = redisCompatibilityVersion.split(separator: ".").prefix(3).reduce(0) { $0 << 8 | (Int($1) ?? 0) }

/// The length of a `#!...` first line (without its newline), or 0: Lua compiles what follows.
func shebangLength(_ code: UnsafeBufferPointer<CChar>) -> Int {
    guard code.count >= 2, code[0] == 0x23, code[1] == 0x21 else { return 0 }
    return code.firstIndex(of: 10) ?? code.count
}

extension Lua {
    func pushValue(_ index: Int32) { lua_pushvalue(state, index) }
}
