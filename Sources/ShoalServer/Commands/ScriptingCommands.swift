import CLua
import RESP
import ShoalPersistence
import ShoalStore

// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FUNCTION, FCALL and FCALL_RO (Redis's eval.c and functions.c).
//
// A script runs atomically over the shards of the keys it declares: they are locked (write locks; read locks
// for a read-only script) in the global order before it starts and held until it ends, and every command it
// calls runs against them through a pre-locked Store. Scripts over disjoint shards run in parallel on
// different loops. A command reaching a key the script did not declare is refused, or, with
// `lua-undeclared-keys lock-all`, such scripts run with every shard held.

/// A script invocation: what runs, and its keys and arguments as EVAL and FCALL give them after `numkeys`
/// (views into the request, valid while the command runs).
struct ScriptCall {
    let name: String
    let args: Arguments
    /// Positions in `args` of the declared keys; the script's arguments follow them.
    let keys: Range<Int>
    let flags: ScriptFlags
    let readOnly: Bool
    let isFunction: Bool

    var arguments: Range<Int> { keys.upperBound..<args.count }

    /// The key positions after `numkeys` (position 2); Redis's errors for a bad count.
    static func keyPositions(_ args: Arguments) throws(CommandError) -> Range<Int> {
        guard let count = parseInt64(args[2]) else { throw .notInteger }
        guard count <= Int64(args.count - 3) else {
            throw CommandError("ERR Number of keys can't be greater than number of args")
        }
        guard count >= 0 else { throw CommandError("ERR Number of keys can't be negative") }
        return 3..<(3 + Int(count))
    }
}

/// What running a script came to.
enum ScriptOutcome {
    case finished(strayed: Bool)
    /// Under lock-all, it reached an undeclared key before writing: run it again with every shard held.
    case restart
}

extension ServerState {
    /// Runs a script or function: locks its shards, pushes it (`push` returns a compile error instead), runs it
    /// and replies. Under lock-all, a script not known to keep to its keys runs with every shard held.
    func runScript(
        _ ctx: CommandContext, _ call: ScriptCall, push: (ScriptEngine) -> String?
    ) throws(CommandError) {
        let settings = ctx.client.settings.current
        let database = ctx.database
        // Redis 7: a script that declared flags (or a function), unless allow-oom or no-writes, is refused
        // over maxmemory before it starts; others are refused at their first write that may grow memory.
        if call.flags.contains(.shebang) || call.isFunction, !call.flags.contains(.allowOOM),
            !call.flags.contains(.noWrites),
            evictIfOverLimit(now: ctx.now, settings: settings) == .nothingEvictable
        {
            throw .outOfMemory
        }
        var declaredShards: [ShardID] = []
        declaredShards.reserveCapacity(call.keys.count)
        for index in call.keys {
            declaredShards.append(ShardID(database: database, shard: keyspace.shardIndex(for: call.args.key(index).hash)))
        }
        var everything = false
        if settings.scriptsMayLockAll {
            // Inside EXEC the transaction holds what its plan named (every shard, for scripts under lock-all).
            everything = ctx.store.isHeld ? ctx.store.holds(keyspace.everyShardID) : scripting.needsEverything(call.name)
        }
        bump(scripting.scriptsRun)
        while true {
            let outcome = ctx.store.withShards(everything ? keyspace.everyShardID : declaredShards, exclusive: !call.readOnly) {
                group in
                scripting.withEngine(self, for: ctx.client) { engine -> ScriptOutcome in
                    if let error = push(engine) {
                        ctx.out.error(error)
                        return .finished(strayed: false)
                    }
                    let run = ScriptRun(
                        caller: ctx.client, group: group, database: database, args: call.args, declared: call.keys,
                        readOnly: call.readOnly, flags: call.flags, holdsEverything: everything,
                        mayRestart: settings.scriptsMayLockAll && !ctx.store.isHeld, now: ctx.now,
                        isFunction: call.isFunction, name: call.name)
                    return engine.execute(run, call)
                }
            }
            switch outcome {
            case .restart:
                scripting.learn(call.name, strays: true)
                everything = true
                continue
            case .finished(let strayed):
                if settings.scriptsMayLockAll { scripting.learn(call.name, strays: strayed) }
            }
            return
        }
    }

    /// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO.
    func eval(_ ctx: CommandContext, bySHA: Bool, readOnly: Bool) throws(CommandError) {
        let sha: String
        let body: [UInt8]
        let noScript = CommandError("NOSCRIPT No matching script. Please use EVAL.")
        if bySHA {
            sha = ctx.args[1].contains { $0 >= 65 && $0 <= 90 } ? ctx.args.string(1).lowercased() : ctx.args.string(1)
            guard sha.utf8.count == 40 else { throw noScript }
        } else {
            sha = SHA1.hex(ctx.args[1])
        }
        let keys = try ScriptCall.keyPositions(ctx.args)
        if bySHA {
            guard let cached = scripting.script(sha) else { throw noScript }
            body = cached
        } else {
            body = ctx.args.bytes(1)
        }
        let flags = try scriptFlags(body)
        if readOnly && flags.contains(.shebang) && !flags.contains(.noWrites) {
            throw CommandError("ERR Can not execute a script with write flag using *_ro command.")
        }
        let call = ScriptCall(
            name: sha, args: ctx.args, keys: keys, flags: flags, readOnly: readOnly || flags.contains(.noWrites),
            isFunction: false)
        let generation = scripting.scriptsGeneration.load(ordering: .relaxed)
        try runScript(ctx, call) { engine in
            if let error = engine.pushScript(sha: sha, body: body, generation: generation) {
                return "ERR Error compiling script (new function): \(error)"
            }
            // Cached once it compiles (a script that fails while running stays cached, as in Redis).
            if !bySHA { scripting.cache(sha, body) }
            return nil
        }
    }

    /// FCALL, FCALL_RO.
    func fcall(_ ctx: CommandContext, readOnly: Bool) throws(CommandError) {
        let name = ctx.args.string(1)
        let libraries = scripting.libraries.withLock { $0 }
        guard let function = libraries.function(name) else { throw CommandError("ERR Function not found") }
        guard parseInt64(ctx.args[2]) != nil else { throw CommandError("ERR Bad number of keys provided") }
        let keys = try ScriptCall.keyPositions(ctx.args)
        if readOnly && !function.flags.contains(.noWrites) {
            throw CommandError("ERR Can not execute a script with write flag using *_ro command.")
        }
        let call = ScriptCall(
            name: function.name, args: ctx.args, keys: keys, flags: function.flags.union(.shebang),
            readOnly: readOnly || function.flags.contains(.noWrites), isFunction: true)
        try runScript(ctx, call) { engine in
            engine.pushFunction(name, libraries: libraries) == nil ? "ERR Function not found" : nil
        }
    }

    /// The flags of a `#!lua flags=a,b` first line (none without one); Redis's errors for others.
    func scriptFlags(_ body: [UInt8]) throws(CommandError) -> ScriptFlags {
        guard body.starts(with: Array("#!".utf8)) else { return [] }
        guard let end = body.firstIndex(of: 10) else { throw CommandError("ERR Invalid script shebang") }
        let line = String(decoding: body[..<end], as: UTF8.self)
        var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
        guard let engine = words.first, engine == "#!lua" else {
            throw CommandError("ERR Unexpected engine in script shebang: \(words.first ?? "")")
        }
        words.removeFirst()
        var flags: ScriptFlags = .shebang
        for word in words {
            guard word.hasPrefix("flags=") else { throw CommandError("ERR Unknown lua shebang option: \(word)") }
            for name in word.dropFirst(6).split(separator: ",", omittingEmptySubsequences: true) {
                guard let flag = ScriptFlags.names.first(where: { $0.0 == name })?.1 else {
                    throw CommandError("ERR Unexpected flag in script shebang: \(name)")
                }
                flags.insert(flag)
            }
        }
        return flags
    }
}

extension ScriptEngine {
    /// Runs the EVAL script or function pushed on the stack with KEYS and ARGV.
    func execute(_ run: ScriptRun, _ call: ScriptCall) -> ScriptOutcome {
        func pushTable(_ positions: Range<Int>) {
            lua.newTable(array: Int32(clamping: positions.count))
            for (index, position) in positions.enumerated() {
                lua.push(call.args[position])
                lua.setIndex(Int32(clamping: index + 1), in: -2)
            }
        }
        pushTable(call.keys)
        pushTable(call.arguments)
        if !run.isFunction {
            // EVAL scripts read them as globals.
            pushGlobals()
            lua_insert(lua.state, -3)
            lua.setField("ARGV", in: -3)
            lua.setField("KEYS", in: -2)
            lua.pop()
        }
        let finished = execute(run, argumentCount: run.isFunction ? 2 : 0)
        return finished ? .finished(strayed: run.strayed) : .restart
    }
}

// MARK: - SCRIPT

private func scriptLoad(_ ctx: CommandContext) throws(CommandError) {
    let server = ctx.server
    let body = ctx.args.bytes(2)
    _ = try server.scriptFlags(body)
    let sha = SHA1.hex(body)
    let generation = server.scripting.scriptsGeneration.load(ordering: .relaxed)
    let error = server.scripting.withEngine(server, for: ctx.client) { engine -> String? in
        defer { engine.lua.top = 0 }
        return engine.pushScript(sha: sha, body: body, generation: generation)
    }
    if let error { throw CommandError("ERR Error compiling script (new function): \(error)") }
    server.scripting.cache(sha, body)
    ctx.out.bulk(sha)
}

private func scriptExists(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.arrayHeader(ctx.args.count - 2)
    for index in 2..<ctx.args.count {
        ctx.out.integer(ctx.server.scripting.hasScript(ctx.args.string(index).lowercased()) ? 1 : 0)
    }
}

/// SCRIPT FLUSH [ASYNC|SYNC]: the mode is checked; the cache is freed at once either way.
private func scriptFlush(_ ctx: CommandContext) throws(CommandError) {
    guard ctx.args.count == 2 || (ctx.args.count == 3 && (ctx.args.matches(2, "ASYNC") || ctx.args.matches(2, "SYNC")))
    else { throw CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option") }
    ctx.server.scripting.flushScripts()
    ctx.out.ok()
}

/// SCRIPT KILL / FUNCTION KILL: stops the busy scripts (or functions) that have not written.
private func kill(_ ctx: CommandContext, functions: Bool) throws(CommandError) {
    let candidates = ctx.server.scripting.busyScripts
    guard !candidates.isEmpty else { throw CommandError("NOTBUSY No scripts in execution right now.") }
    let matching = candidates.filter { $0.isFunction == functions }
    guard !matching.isEmpty else {
        throw CommandError(
            functions
                ? "NOTBUSY No scripts in execution right now." : "BUSY A function is running, use FUNCTION KILL instead")
    }
    let killable = matching.filter { !$0.wrote.load(ordering: .relaxed) }
    guard !killable.isEmpty else {
        throw CommandError(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait "
                + "the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
    }
    for script in killable { script.killRequested.store(true, ordering: .relaxed) }
    ctx.out.ok()
}

/// SCRIPT DEBUG: Shoal has no Lua debugger; NO (the default) is accepted.
private func scriptDebug(_ ctx: CommandContext) throws(CommandError) {
    if ctx.args.matches(2, "NO") { return ctx.out.ok() }
    guard ctx.args.matches(2, "YES") || ctx.args.matches(2, "SYNC") else {
        throw CommandError("ERR Use SCRIPT DEBUG YES/SYNC/NO")
    }
    throw CommandError("ERR Shoal has no Lua debugger (SCRIPT DEBUG YES/SYNC); see docs/COMPATIBILITY.md")
}

private func scriptHelp(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.statusArray([
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    ])
}

// MARK: - FUNCTION

/// The library name of a `#!lua name=<name>` first line.
private func libraryName(_ code: [UInt8]) throws(CommandError) -> String {
    guard code.starts(with: Array("#!".utf8)) else { throw CommandError("ERR Missing library metadata") }
    let line = String(decoding: code.prefix { $0 != 10 }, as: UTF8.self)
    var words = line.dropFirst(2).split(separator: " ")
    guard let engine = words.first else { throw CommandError("ERR Missing library metadata") }
    guard engine.lowercased() == "lua" else { throw CommandError("ERR Engine '\(engine)' not found") }
    words.removeFirst()
    var name: String?
    for word in words {
        guard word.hasPrefix("name=") else { throw CommandError("ERR Invalid metadata value given: \(word)") }
        guard name == nil else { throw CommandError("ERR Invalid metadata value, name argument was given multiple times") }
        name = String(word.dropFirst(5))
    }
    guard let name else { throw CommandError("ERR Library name was not given") }
    guard isValidFunctionName(name) else {
        throw CommandError(
            "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
    }
    return name
}

extension ServerState {
    /// Runs a library's code once in an engine (registering its functions there only): the library, or
    /// Redis's error for its code.
    func validateLibrary(_ code: [UInt8], client: ClientSession) throws(CommandError) -> FunctionLibrary {
        let name = try libraryName(code)
        let loaded = scripting.withEngine(self, for: client) { engine in
            defer { engine.invalidateFunctions() }
            return engine.load(library: name, code: code)
        }
        switch loaded {
        case .success(let functions): return FunctionLibrary(name: name, code: code, functions: functions)
        case .failure(.compile(let message)): throw CommandError("ERR Error compiling function: \(message)")
        case .failure(.run(let message)): throw CommandError("ERR Error registering functions: \(message.replacingNewlines())")
        case .failure(.noFunctions): throw CommandError("ERR No functions registered")
        }
    }

    /// Validates a library (its code runs once, registering its functions) and adds it; the library's name.
    func loadLibrary(_ code: [UInt8], replace: Bool, client: ClientSession) throws(CommandError) -> String {
        let library = try validateLibrary(code, client: client)
        let name = library.name
        let functions = library.functions
        return try scripting.libraries.withLock { libraries throws(CommandError) -> String in
            if libraries.byName[name] != nil && !replace {
                throw CommandError("ERR Library '\(name)' already exists")
            }
            for function in functions {
                if let owner = libraries.function(function.name)?.library, owner != name {
                    throw CommandError("ERR Function \(function.name) already exists")
                }
            }
            libraries.add(FunctionLibrary(name: name, code: code, functions: functions))
            return name
        }
    }
}

private func functionLoad(_ ctx: CommandContext) throws(CommandError) {
    var replace = false
    var index = 2
    while index < ctx.args.count - 1 {
        guard ctx.args.matches(index, "REPLACE") else { throw CommandError("ERR Unknown option given: \(ctx.args.string(index))") }
        replace = true
        index += 1
    }
    guard index == ctx.args.count - 1 else { throw CommandError("ERR Function code was not given") }
    ctx.out.bulk(try ctx.server.loadLibrary(ctx.args.bytes(index), replace: replace, client: ctx.client))
}

private func functionList(_ ctx: CommandContext) throws(CommandError) {
    var withCode = false
    var pattern: [UInt8]?
    var index = 2
    while index < ctx.args.count {
        if ctx.args.matches(index, "WITHCODE") && !withCode {
            withCode = true
        } else if ctx.args.matches(index, "LIBRARYNAME") && pattern == nil {
            guard index + 1 < ctx.args.count else { throw CommandError("ERR library name argument was not given") }
            pattern = ctx.args.bytes(index + 1)
            index += 1
        } else {
            throw CommandError("ERR Unknown argument \(ctx.args.string(index))")
        }
        index += 1
    }
    let libraries = ctx.server.scripting.libraries.withLock { $0.all }.filter { library in
        guard let pattern else { return true }
        return globMatch(pattern, Array(library.name.utf8), caseInsensitive: true)
    }
    ctx.out.arrayHeader(libraries.count)
    for library in libraries {
        ctx.out.mapHeader(withCode ? 4 : 3)
        ctx.out.bulk("library_name")
        ctx.out.bulk(library.name)
        ctx.out.bulk("engine")
        ctx.out.bulk("LUA")
        ctx.out.bulk("functions")
        ctx.out.arrayHeader(library.functions.count)
        for function in library.functions.sorted(by: { $0.name < $1.name }) {
            ctx.out.mapHeader(3)
            ctx.out.bulk("name")
            ctx.out.bulk(function.name)
            ctx.out.bulk("description")
            ctx.out.null()
            ctx.out.bulk("flags")
            ctx.out.setHeader(function.flags.names.count)
            for flag in function.flags.names { ctx.out.simple(flag) }
        }
        if withCode {
            ctx.out.bulk("library_code")
            ctx.out.bulk(library.code)
        }
    }
}

private func functionDelete(_ ctx: CommandContext) throws(CommandError) {
    let name = ctx.args.string(2)
    guard ctx.server.scripting.libraries.withLock({ $0.remove(name) }) else {
        throw CommandError("ERR Library not found")
    }
    ctx.out.ok()
}

private func functionFlush(_ ctx: CommandContext) throws(CommandError) {
    guard ctx.args.count <= 3 else { throw .syntax }
    if ctx.args.count == 3 && !ctx.args.matches(2, "ASYNC") && !ctx.args.matches(2, "SYNC") {
        throw CommandError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    }
    ctx.server.scripting.libraries.withLock { $0.removeAll() }
    ctx.out.ok()
}

/// FUNCTION DUMP's payload: Shoal's own (a version byte, then each library's code as a length and bytes,
/// then a CRC-64 like Redis's DUMP payloads end with). FUNCTION RESTORE takes what FUNCTION DUMP gave.
private let functionDumpVersion: UInt8 = 1

private func functionDump(_ ctx: CommandContext) throws(CommandError) {
    let libraries = ctx.server.scripting.libraries.withLock { $0.all }
    var payload: [UInt8] = Array("SHOALFN".utf8) + [functionDumpVersion]
    for library in libraries {
        var length = UInt32(library.code.count).bigEndian
        withUnsafeBytes(of: &length) { payload += $0 }
        payload += library.code
    }
    var checksum = CRC64.checksum(payload).bigEndian
    withUnsafeBytes(of: &checksum) { payload += $0 }
    ctx.out.bulk(payload)
}

private func functionRestore(_ ctx: CommandContext) throws(CommandError) {
    let payload = ctx.args.bytes(2)
    var policy = "APPEND"
    if ctx.args.count == 4 {
        policy = ctx.args.string(3).uppercased()
        guard ["APPEND", "REPLACE", "FLUSH"].contains(policy) else {
            throw CommandError("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
        }
    } else if ctx.args.count > 4 {
        throw .syntax
    }
    let header = Array("SHOALFN".utf8) + [functionDumpVersion]
    guard payload.count >= header.count + 8, payload.starts(with: header) else {
        throw CommandError("ERR payload version or checksum are wrong")
    }
    let body = Array(payload.dropLast(8))
    let stored = payload.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    guard CRC64.checksum(body) == stored else { throw CommandError("ERR payload version or checksum are wrong") }
    var codes: [[UInt8]] = []
    var position = header.count
    while position < body.count {
        guard position + 4 <= body.count else { throw CommandError("ERR payload version or checksum are wrong") }
        let length = body[position..<position + 4].reduce(0) { $0 << 8 | Int($1) }
        position += 4
        guard position + length <= body.count else { throw CommandError("ERR payload version or checksum are wrong") }
        codes.append(Array(body[position..<position + length]))
        position += length
    }
    // Validate every library first (each runs once in an engine), then apply the policy in one step.
    let server = ctx.server
    var restored: [FunctionLibrary] = []
    for code in codes { restored.append(try server.validateLibrary(code, client: ctx.client)) }
    try server.scripting.libraries.withLock { libraries throws(CommandError) in
        var next = libraries
        if policy == "FLUSH" { next.removeAll() }
        for library in restored {
            if next.byName[library.name] != nil {
                guard policy == "REPLACE" else { throw CommandError("ERR Library \(library.name) already exists") }
            }
            for function in library.functions {
                if let owner = next.function(function.name)?.library, owner != library.name {
                    throw CommandError("ERR Function \(function.name) already exists")
                }
            }
            next.add(library)
        }
        next.generation = libraries.generation + 1
        libraries = next
    }
    ctx.out.ok()
}

private func functionStats(_ ctx: CommandContext) throws(CommandError) {
    let running = ctx.server.scripting.busyScripts.first { $0.isFunction }
    let libraries = ctx.server.scripting.libraries.withLock { $0.all }
    ctx.out.mapHeader(2)
    ctx.out.bulk("running_script")
    if let running {
        ctx.out.mapHeader(3)
        ctx.out.bulk("name")
        ctx.out.bulk(running.name)
        ctx.out.bulk("command")
        ctx.out.arrayHeader(1)
        ctx.out.bulk("fcall")
        ctx.out.bulk("duration_ms")
        ctx.out.integer((monotonicNanoseconds() - running.startedNanoseconds) / 1_000_000)
    } else {
        ctx.out.null()
    }
    ctx.out.bulk("engines")
    ctx.out.mapHeader(1)
    ctx.out.bulk("LUA")
    ctx.out.mapHeader(2)
    ctx.out.bulk("libraries_count")
    ctx.out.integer(libraries.count)
    ctx.out.bulk("functions_count")
    ctx.out.integer(libraries.reduce(0) { $0 + $1.functions.count })
}

private func functionHelp(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.statusArray([
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ])
}

let scriptingCommands: [Command] = [
    Command(
        "eval", arity: -3, flags: [.noscript, .stale], numkeysAt: 2, group: "scripting",
        summary: "Executes a server-side Lua script.", since: "2.6.0", complexity: "Depends on the script that is executed."
    ) { ctx throws(CommandError) in try ctx.server.eval(ctx, bySHA: false, readOnly: false) },
    Command(
        "evalsha", arity: -3, flags: [.noscript, .stale], numkeysAt: 2, group: "scripting",
        summary: "Executes a server-side Lua script by SHA1 digest.", since: "2.6.0",
        complexity: "Depends on the script that is executed."
    ) { ctx throws(CommandError) in try ctx.server.eval(ctx, bySHA: true, readOnly: false) },
    Command(
        "eval_ro", arity: -3, flags: [.noscript, .stale, .readonly], numkeysAt: 2, group: "scripting",
        summary: "Executes a read-only server-side Lua script.", since: "7.0.0",
        complexity: "Depends on the script that is executed."
    ) { ctx throws(CommandError) in try ctx.server.eval(ctx, bySHA: false, readOnly: true) },
    Command(
        "evalsha_ro", arity: -3, flags: [.noscript, .stale, .readonly], numkeysAt: 2, group: "scripting",
        summary: "Executes a read-only server-side Lua script by SHA1 digest.", since: "7.0.0",
        complexity: "Depends on the script that is executed."
    ) { ctx throws(CommandError) in try ctx.server.eval(ctx, bySHA: true, readOnly: true) },
    Command(
        "fcall", arity: -3, flags: [.noscript, .stale], numkeysAt: 2, group: "scripting",
        summary: "Invokes a function.", since: "7.0.0", complexity: "Depends on the function that is executed."
    ) { ctx throws(CommandError) in try ctx.server.fcall(ctx, readOnly: false) },
    Command(
        "fcall_ro", arity: -3, flags: [.noscript, .stale, .readonly], numkeysAt: 2, group: "scripting",
        summary: "Invokes a read-only function.", since: "7.0.0", complexity: "Depends on the function that is executed."
    ) { ctx throws(CommandError) in try ctx.server.fcall(ctx, readOnly: true) },
    Command(
        "script", arity: -2, group: "scripting", summary: "A container for Lua scripts management commands.",
        since: "2.6.0",
        subcommands: [
            Command(
                "load", arity: 3, flags: [.noscript, .stale], group: "scripting",
                summary: "Loads a server-side Lua script to the script cache.", since: "2.6.0", complexity: "O(N)",
                handler: scriptLoad),
            Command(
                "exists", arity: -3, flags: [.noscript], group: "scripting",
                summary: "Determines whether server-side Lua scripts exist in the script cache.", since: "2.6.0",
                complexity: "O(N)", handler: scriptExists),
            Command(
                "flush", arity: -2, flags: [.noscript], group: "scripting",
                summary: "Removes all server-side Lua scripts from the script cache.", since: "2.6.0",
                complexity: "O(N)", handler: scriptFlush),
            Command(
                "kill", arity: 2, flags: [.noscript], group: "scripting",
                summary: "Terminates a server-side Lua script during execution.", since: "2.6.0"
            ) { ctx throws(CommandError) in try kill(ctx, functions: false) },
            Command(
                "debug", arity: 3, flags: [.noscript], group: "scripting",
                summary: "Sets the debug mode of server-side Lua scripts.", since: "3.2.0", handler: scriptDebug),
            Command(
                "help", arity: 2, flags: [.loading, .stale], group: "scripting", summary: "Returns helpful text about the different subcommands.",
                since: "5.0.0", handler: scriptHelp),
        ]),
    Command(
        "function", arity: -2, group: "scripting", summary: "A container for function commands.", since: "7.0.0",
        subcommands: [
            Command(
                "load", arity: -3, flags: [.write, .denyOOM, .noscript], group: "scripting",
                summary: "Creates a library.", since: "7.0.0", complexity: "O(1) (considering compilation time is redundant)",
                handler: functionLoad),
            Command(
                "list", arity: -2, flags: [.noscript], group: "scripting",
                summary: "Returns information about all libraries.", since: "7.0.0", complexity: "O(N)",
                handler: functionList),
            Command(
                "delete", arity: 3, flags: [.write, .noscript], group: "scripting",
                summary: "Deletes a library and its functions.", since: "7.0.0", handler: functionDelete),
            Command(
                "flush", arity: -2, flags: [.write, .noscript], group: "scripting",
                summary: "Deletes all libraries and functions.", since: "7.0.0", complexity: "O(N)",
                handler: functionFlush),
            Command(
                "dump", arity: 2, flags: [.noscript], group: "scripting",
                summary: "Dumps all libraries into a serialized binary payload.", since: "7.0.0", complexity: "O(N)",
                handler: functionDump),
            Command(
                "restore", arity: -3, flags: [.write, .denyOOM, .noscript], group: "scripting",
                summary: "Restores all libraries from a payload.", since: "7.0.0", complexity: "O(N)",
                handler: functionRestore),
            Command(
                "stats", arity: 2, flags: [.noscript], group: "scripting",
                summary: "Returns information about a function during execution.", since: "7.0.0",
                handler: functionStats),
            Command(
                "kill", arity: 2, flags: [.noscript], group: "scripting",
                summary: "Terminates a function during execution.", since: "7.0.0"
            ) { ctx throws(CommandError) in try kill(ctx, functions: true) },
            Command(
                "help", arity: 2, flags: [.loading, .stale], group: "scripting", summary: "Returns helpful text about the different subcommands.",
                since: "7.0.0", handler: functionHelp),
        ]),
]
