// The Lua side of the sandbox every engine runs once at creation.

/// The sandbox, run once per engine (Shoal's own Lua, after what Redis 7.0 gives scripts): globals and the
/// libraries are read-only, reading a missing global is an error, `pcall` hands back a raised error table's
/// text, and `__redis__err__handler` (every script's message handler) records where an error was raised. It
/// returns the factory of FUNCTION libraries' environments.
let luaSandbox = """
    local G = _G
    local rawget, rawset_, error, tostring, type, setmetatable_, ipairs, pcall_, setfenv =
        rawget, rawset, error, tostring, type, setmetatable, ipairs, pcall, setfenv
    local getinfo = debug.getinfo
    local function readonly() error("Attempt to modify a readonly table", 2) end
    local function missing(_, name) error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2) end
    local redis = rawget(G, "redis")
    -- Library tables and the globals themselves are read through proxies that refuse writes (Redis 7 makes
    -- them read-only in its own Lua; stock Lua 5.1 needs a proxy, as assigning an existing key never reaches
    -- __newindex). `real[proxy]` is what a proxy stands for.
    local real = {}
    for _, name in ipairs({"redis", "string", "math", "table", "coroutine", "cjson", "bit", "struct", "cmsgpack"}) do
        local proxy = setmetatable_({}, {__index = rawget(G, name), __newindex = readonly, __metatable = false})
        real[proxy] = rawget(G, name)
        rawset_(G, name, proxy)
    end
    rawset_(G, "debug", nil)
    rawset_(G, "getfenv", nil)
    rawset_(G, "setfenv", nil)
    rawset_(G, "rawset", function(t, k, v)
        if real[t] then error("Attempt to modify a readonly table", 0) end
        return rawset_(t, k, v)
    end)
    rawset_(G, "setmetatable", function(t, m)
        if real[t] then error("Attempt to modify a readonly table", 0) end
        return setmetatable_(t, m)
    end)
    local function unwrap(ok, ...)
        if not ok then
            local e = ...
            if type(e) == "table" and type(rawget(e, "err")) == "string" then return false, rawget(e, "err") end
        end
        return ok, ...
    end
    rawset_(G, "pcall", function(...) return unwrap(pcall_(...)) end)
    rawset_(G, "__redis__err__handler", function(err)
        -- Where the error was raised: the innermost frame that is neither C (error, redis.call) nor this sandbox.
        local level = 2
        local info = getinfo(level, "Sl")
        while info and (info.what == "C" or info.source == "@sandbox") do
            level = level + 1
            info = getinfo(level, "Sl")
        end
        if type(err) ~= "table" then
            err = {err = "ERR " .. tostring(err)}
        elseif type(rawget(err, "err")) ~= "string" then
            err = {err = "ERR the script raised a table without an err field"}
        end
        if info then
            rawset_(err, "source", info.source)
            rawset_(err, "line", info.currentline)
        end
        return err
    end)
    setmetatable_(G, {__index = missing})
    local globals = setmetatable_({}, {__index = G, __newindex = readonly, __metatable = {}})
    real[globals] = G
    rawset_(G, "_G", globals)
    -- Scripts compiled from now on see the proxy as their globals.
    setfenv(0, globals)
    local loadTimeNames = {
        log = true, LOG_DEBUG = true, LOG_VERBOSE = true, LOG_NOTICE = true, LOG_WARNING = true,
        REDIS_VERSION = true, REDIS_VERSION_NUM = true,
    }
    -- A FUNCTION library's environment: while its code loads, only redis.register_function, redis.log and the
    -- constants exist; once loaded, its functions see what EVAL scripts see (without KEYS and ARGV).
    return function(register)
        local loading = true
        local loadTime = setmetatable({}, {
            __index = function(_, name)
                if name == "register_function" then return register end
                if loadTimeNames[name] then return redis[name] end
                error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
            end,
            __newindex = readonly, __metatable = false,
        })
        local environment = setmetatable({}, {
            __index = function(_, name)
                if loading then
                    if name == "redis" then return loadTime end
                    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
                end
                local value = rawget(G, name)
                if value == nil or name == "KEYS" or name == "ARGV" then
                    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
                end
                return value
            end,
            __newindex = readonly, __metatable = false,
        })
        return environment, function() loading = false end
    end, G
    """
