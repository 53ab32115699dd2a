import ShoalPosix
import ShoalStore
import Synchronization

// What every loop's engine shares: the script cache (SHA1 → body), the function libraries, the scripts
// running past busy-reply-threshold, and what lock-all mode learned about scripts that reach undeclared keys.
// Each engine compiles for itself (a lua_State belongs to one thread); the shared parts sit behind mutexes
// taken once per script, not per command.

/// A function library as FUNCTION LOAD accepted it.
struct FunctionLibrary: Sendable {
    let name: String
    let code: [UInt8]
    let functions: [RegisteredFunction]
}

/// Every loaded library; `generation` changes with each LOAD, DELETE, FLUSH or RESTORE, and engines reload.
struct FunctionLibraries: Sendable {
    var generation = 0
    private(set) var byName: [String: FunctionLibrary] = [:]
    /// Function name → its library's name.
    private(set) var owners: [String: String] = [:]

    var all: [FunctionLibrary] { byName.values.sorted { $0.name < $1.name } }

    /// Function names are case-insensitive, as Redis's (library names are not).
    func function(_ name: String) -> RegisteredFunction? {
        let name = name.lowercased()
        guard let library = owners[name] else { return nil }
        return byName[library]?.functions.first { $0.name.lowercased() == name }
    }

    mutating func add(_ library: FunctionLibrary) {
        remove(library.name)
        byName[library.name] = library
        for function in library.functions { owners[function.name.lowercased()] = library.name }
        generation += 1
    }

    @discardableResult
    mutating func remove(_ name: String) -> Bool {
        guard let library = byName.removeValue(forKey: name) else { return false }
        for function in library.functions { owners.removeValue(forKey: function.name.lowercased()) }
        generation += 1
        return true
    }

    mutating func removeAll() {
        byName = [:]
        owners = [:]
        generation += 1
    }
}

/// A script that has run past busy-reply-threshold: other clients reaching its shards get -BUSY, and SCRIPT
/// KILL (FUNCTION KILL for a function) may stop it while it has not written.
final class BusyScript: Sendable {
    let shards: [ShardID]
    let everything: Bool
    let isFunction: Bool
    /// The function's name, or the script's SHA1.
    let name: String
    let callerID: Int
    /// The loop running it (its other clients can only be answered -BUSY meanwhile).
    let loopIndex: Int
    let startedNanoseconds: Int64
    let killRequested = Atomic<Bool>(false)
    let wrote = Atomic<Bool>(false)

    init(
        shards: [ShardID], everything: Bool, isFunction: Bool, name: String, callerID: Int, loopIndex: Int,
        startedNanoseconds: Int64
    ) {
        self.loopIndex = loopIndex
        self.shards = shards
        self.everything = everything
        self.isFunction = isFunction
        self.name = name
        self.callerID = callerID
        self.startedNanoseconds = startedNanoseconds
    }

    func reaches(_ ids: [ShardID], everything reachesEverything: Bool) -> Bool {
        everything || reachesEverything || ids.contains { shards.contains($0) }
    }
}

/// One loop's engine, created on first use by that loop's thread and touched by no other.
private final class EngineSlot: @unchecked Sendable {
    var engine: ScriptEngine?
    /// Installed by the loop: answers its other clients while one of its scripts is busy.
    var serveWhileBusy: ((ClientSession) -> Void)?
}

public final class Scripting: Sendable {
    private let scripts = Locked<[String: [UInt8]]>([:])
    /// Bumped by SCRIPT FLUSH: engines drop what they compiled.
    let scriptsGeneration = Atomic<Int>(0)
    let libraries = Locked(FunctionLibraries())
    /// lock-all: scripts (by SHA1 or function name) seen reaching undeclared keys (true), or running clean.
    private let learned = Locked<[String: Bool]>([:])
    private let busy = Locked<[BusyScript]>([])
    let busyCount = Atomic<Int>(0)
    private let slots: [EngineSlot]
    private let pool = Locked<[ScriptEngine]>([])
    /// Scripts and functions run (FUNCTION STATS, INFO).
    let scriptsRun = Atomic<Int>(0)
    /// Bytes every engine's Lua heap holds, as each last reported it (INFO's used_memory_lua).
    let luaMemory = Atomic<Int>(0)

    init(loops: Int) { slots = (0..<loops).map { _ in EngineSlot() } }

    // MARK: Engines

    /// Runs `body` with the engine of `session`'s loop (or one of a pool, for sessions of no loop).
    func withEngine<R>(_ server: ServerState, for session: ClientSession, _ body: (ScriptEngine) -> R) -> R {
        let index = session.handle.loopIndex
        if index < slots.count {
            let slot = slots[index]
            if let engine = slot.engine { return body(engine) }
            let engine = ScriptEngine(server: server, stats: server.loopStats[index])
            slot.engine = engine
            return body(engine)
        }
        let engine = pool.withLock { $0.popLast() } ?? ScriptEngine(server: server, stats: server.loopStats[index])
        defer { pool.withLock { $0.append(engine) } }
        return body(engine)
    }

    func installBusyServer(loop index: Int, _ serve: @escaping (ClientSession) -> Void) {
        slots[index].serveWhileBusy = serve
    }

    // MARK: The script cache

    func script(_ sha: String) -> [UInt8]? { scripts.withLock { $0[sha] } }

    func cache(_ sha: String, _ body: [UInt8]) {
        scripts.withLock { if $0[sha] == nil { $0[sha] = body } }
    }

    func hasScript(_ sha: String) -> Bool { scripts.withLock { $0[sha] != nil } }

    var scriptCount: Int { scripts.withLock { $0.count } }

    /// INFO memory's scripting fields: Lua heaps, cached script bodies, function libraries.
    var memoryReport: (lua: Int, scripts: Int, scriptBytes: Int, functions: Int, libraries: Int, libraryBytes: Int) {
        let (scripts, scriptBytes) = self.scripts.withLock { ($0.count, $0.values.reduce(0) { $0 + $1.count }) }
        let all = libraries.withLock { $0.all }
        return (
            luaMemory.load(ordering: .relaxed), scripts, scriptBytes, all.reduce(0) { $0 + $1.functions.count },
            all.count, all.reduce(0) { $0 + $1.code.count }
        )
    }

    func flushScripts() {
        scripts.withLock { $0 = [:] }
        learned.withLock { $0 = [:] }
        scriptsGeneration.wrappingAdd(1, ordering: .relaxed)
    }

    // MARK: lock-all learning

    /// Whether a script must start with every shard held: under lock-all, until it has run once without
    /// reaching an undeclared key, and forever once it has.
    func needsEverything(_ name: String) -> Bool { learned.withLock { $0[name] } ?? true }

    func learn(_ name: String, strays: Bool) { learned.withLock { $0[name] = strays || ($0[name] ?? false) } }

    // MARK: Busy scripts

    func beginBusy(_ run: ScriptRun) -> BusyScript {
        let script = BusyScript(
            shards: run.group.ids, everything: run.holdsEverything, isFunction: run.isFunction, name: run.name,
            callerID: run.caller.id, loopIndex: run.caller.handle.loopIndex, startedNanoseconds: run.startedNanoseconds)
        busy.withLock { $0.append(script) }
        busyCount.wrappingAdd(1, ordering: .relaxed)
        return script
    }

    func endBusy(_ script: BusyScript) {
        busy.withLock { $0.removeAll { $0 === script } }
        busyCount.wrappingSubtract(1, ordering: .relaxed)
    }

    var busyScripts: [BusyScript] { busy.withLock { $0 } }

    /// SHUTDOWN NOSAVE: every busy script stops, written or not (what it wrote is not saved).
    func abortBusyScripts() {
        for script in busyScripts { script.killRequested.store(true, ordering: .relaxed) }
    }

    /// Called from a busy script's hook: lets the loop answer its other clients meanwhile.
    func serveWhileBusy(_ run: ScriptRun, _ script: BusyScript) {
        let index = run.caller.handle.loopIndex
        guard index < slots.count, let serve = slots[index].serveWhileBusy else { return }
        serve(run.caller)
    }
}

/// Commands a client may run while a script it would wait for is busy (Redis's allow-busy flag, less WATCH,
/// UNWATCH, DISCARD and RESET: they take shard locks, which the busy script may hold, on this very thread when
/// its loop is the one answering).
private let allowedWhileBusy: Set<String> = [
    "script|kill", "function|kill", "function|stats", "shutdown", "auth", "hello", "multi", "quit",
]

extension ServerState {
    /// -BUSY for a command that would wait for a script past busy-reply-threshold: one reaching its shards,
    /// or any command from a client of the loop running it (that loop's thread is inside the script).
    func busyRefusal(_ command: Command, _ client: ClientSession, _ args: Arguments) -> CommandError? {
        guard !allowedWhileBusy.contains(command.fullName) else { return nil }
        let scripts = scripting.busyScripts
        let loop = client.handle.loopIndex
        var blocking = scripts.first { $0.loopIndex == loop && loop < ioThreads }
        if blocking == nil {
            let plan = TransactionPlan(
                queue: [QueuedCommand(command, args)], database: client.database, watched: [], keyspace: keyspace)
            blocking = scripts.first { $0.reaches(plan.ids, everything: false) }
        }
        guard let blocking else { return nil }
        return CommandError(
            "BUSY Redis is busy running a script. You can only call \(blocking.isFunction ? "FUNCTION" : "SCRIPT") KILL "
                + "or SHUTDOWN NOSAVE.")
    }
}
