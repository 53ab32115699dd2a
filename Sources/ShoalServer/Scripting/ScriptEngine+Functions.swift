import CLua
import CShoalLua
import ShoalStore

// FUNCTION's side of an engine: running a library's code with redis.register_function, and finding a
// registered function's callback (each engine loads every library itself, again when they change).

extension ScriptEngine {
    /// Pushes the callback of function `name`, loading the libraries again if they changed; nil when unknown.
    func pushFunction(_ name: String, libraries: FunctionLibraries) -> RegisteredFunction? {
        if libraries.generation != functionsGeneration {
            loadedFunctions = [:]
            lua.newTable()
            store(in: Slot.functions)
            for library in libraries.all {
                // Already validated by FUNCTION LOAD: this loads the same code into this engine.
                if case .success(let functions) = load(library: library.name, code: library.code) {
                    for function in functions { loadedFunctions[function.name.lowercased()] = function }
                }
            }
            functionsGeneration = libraries.generation
        }
        guard let function = loadedFunctions[name.lowercased()] else { return nil }
        load(Slot.functions)
        lua.getField(name.lowercased(), in: -1)
        lua_remove(lua.state, -2)
        return function
    }

    /// Runs a library's code with `redis.register_function`, storing the functions it registers in this
    /// engine's registry; their names and flags, or the error.
    func load(library: String, code: [UInt8]) -> Result<[RegisteredFunction], FunctionLoadError> {
        registering = []
        let base = lua.top
        defer {
            registering = nil
            lua.top = base
        }
        let handler = pushErrorHandler()
        load(Slot.libraryEnvironment)
        lua.push { ScriptEngine.of($0).registerFunction() }
        guard protectedCall(1, 2, handler: handler) == 0 else { return .failure(.run(errorText(at: lua.top))) }
        let environment = lua.top - 1
        let finishLoading = lua.top
        let status = compile(code, name: "@user_function")
        guard status == 0 else { return .failure(.compile(lua.string(at: -1) ?? "error")) }
        lua.pushValue(environment)
        lua_setfenv(lua.state, -2)
        shoal_lua_set_memory_limit(lua.state, client.settings.current.luaMemoryLimit)
        shoal_lua_set_check(lua.state, { ScriptEngine.of($0).checkLoading() }, checkEvery)
        loadStarted = monotonicNanoseconds()
        let result = protectedCall(0, 0, handler: handler)
        shoal_lua_set_check(lua.state, nil, 0)
        shoal_lua_set_memory_limit(lua.state, 0)
        guard result == 0 else { return .failure(.run(errorText(at: lua.top))) }
        guard let functions = registering, !functions.isEmpty else { return .failure(.noFunctions) }
        lua.pushValue(finishLoading)
        _ = protectedCall(0, 0, handler: 0)
        reportMemory()
        return .success(functions.map { RegisteredFunction(name: $0.name, library: library, flags: $0.flags) })
    }

    /// The text of an error value the message handler made (`{err = ...}`), or of a plain one.
    func errorText(at index: Int32) -> String {
        if lua.type(at: index) == LUA_TTABLE, let text = lua.stringField("err", of: index) { return text }
        return "ERR " + (lua.string(at: index) ?? "unknown error")
    }


    /// FUNCTION LOAD's code may not run forever either: past the threshold it is stopped.
    func checkLoading() -> Int32 {
        let elapsed = (monotonicNanoseconds() - loadStarted) / 1_000_000
        guard elapsed >= max(500, client.settings.current.busyReplyThreshold) else { return 0 }
        lua.push("FUNCTION LOAD timeout")
        return 1
    }

    /// `redis.register_function(name, callback)` or `redis.register_function{function_name=..., callback=...,
    /// flags={...}, description=...}`.
    func registerFunction() -> Int32 {
        guard registering != nil else { return raise("redis.register_function can only be called on FUNCTION LOAD command") }
        var name: String?
        var flags: ScriptFlags = []
        let callback: Int32
        if lua.top == 1 && lua.type(at: 1) == LUA_TTABLE {
            var pairs: [(String, Int32)] = []
            lua.pushNil()
            while lua_next(lua.state, 1) != 0 {
                guard lua.type(at: -2) == LUA_TSTRING, let key = lua.string(at: -2) else {
                    return raise("named argument key given to redis.register_function is not a string")
                }
                pairs.append((key, lua.type(at: -1)))
                lua.pop()
            }
            for (key, kind) in pairs {
                switch key {
                case "function_name":
                    guard kind == LUA_TSTRING else { return raise("function_name argument given to redis.register_function must be a string") }
                    name = lua.stringField("function_name", of: 1)
                case "callback":
                    guard kind == LUA_TFUNCTION else { return raise("callback argument given to redis.register_function must be a function") }
                case "description":
                    guard kind == LUA_TSTRING else { return raise("description argument given to redis.register_function must be a string") }
                case "flags":
                    guard kind == LUA_TTABLE else { return raise("flags argument to redis.register_function must be a table representing function flags") }
                    lua.getField("flags", in: 1)
                    let table = lua.top
                    var index: Int32 = 1
                    while true {
                        lua.getIndex(index, in: table)
                        if lua.type(at: -1) == LUA_TNIL { break }
                        guard lua.type(at: -1) == LUA_TSTRING, let text = lua.string(at: -1),
                            let flag = ScriptFlags.names.first(where: { $0.0 == text })?.1
                        else { return raise("unknown flag given") }
                        flags.insert(flag)
                        lua.pop()
                        index += 1
                    }
                    lua.top = table - 1
                default:
                    return raise("unknown argument given to redis.register_function")
                }
            }
            guard name != nil else { return raise("redis.register_function must get a function name argument") }
            lua.getField("callback", in: 1)
            guard lua.type(at: -1) == LUA_TFUNCTION else { return raise("redis.register_function must get a callback argument") }
            callback = lua.top
        } else {
            if lua.top == 1 {
                return raise(
                    "calling redis.register_function with a single argument is only applicable to Lua table "
                        + "(representing named arguments).")
            }
            guard lua.top == 2 else { return raise("wrong number of arguments to redis.register_function") }
            guard lua.type(at: 1) == LUA_TSTRING || lua.type(at: 1) == LUA_TNUMBER else {
                return raise("first argument to redis.register_function must be a string")
            }
            guard lua.type(at: 2) == LUA_TFUNCTION else { return raise("second argument to redis.register_function must be a function") }
            name = lua.string(at: 1)
            callback = 2
        }
        guard let name else { return raise("redis.register_function must get a function name argument") }
        guard isValidFunctionName(name) else {
            return raise("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
        }
        if registering!.contains(where: { $0.name.lowercased() == name.lowercased() }) {
            return raise("Function already exists in the library")
        }
        registering!.append(RegisteredFunction(name: name, library: "", flags: flags))
        load(Slot.functions)
        lua.pushValue(callback)
        lua.setField(name.lowercased(), in: -2)
        return 0
    }

    /// Forgets the functions this engine loaded (FUNCTION DELETE / FLUSH elsewhere bumps the generation; this
    /// is for a failed FUNCTION LOAD here, whose callbacks must not stay).
    func invalidateFunctions() { functionsGeneration = -1 }
}

/// A function as a library registered it.
struct RegisteredFunction: Sendable {
    let name: String
    var library: String
    let flags: ScriptFlags
}

enum FunctionLoadError: Error {
    case compile(String)
    case run(String)
    case noFunctions
}

func isValidFunctionName(_ name: String) -> Bool {
    !name.isEmpty && name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) }
}
