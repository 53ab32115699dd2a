#include "CShoalLua.h"

#include <lauxlib.h>
#include <lualib.h>
#include <lua-bitop.h>
#include <lua-cjson.h>
#include <stdio.h>
#include <stdlib.h>

int luaopen_struct(lua_State *L);
int luaopen_cmsgpack(lua_State *L);

typedef struct runtime {
    void *host;
    size_t used;
    size_t limit;
    /// > 0 while Swift code (or Swift-driven C outside a protected call) is on the stack: allocations can't fail.
    int in_host;
    shoal_lua_check_function check;
    int every;
} runtime;

static runtime *runtime_of(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return (runtime *)ud;
}

static void *allocate(void *ud, void *pointer, size_t old_size, size_t new_size) {
    runtime *rt = (runtime *)ud;
    if (new_size == 0) {
        free(pointer);
        rt->used -= old_size;
        return NULL;
    }
    if (new_size > old_size && rt->limit > 0 && rt->in_host == 0 && rt->used - old_size + new_size > rt->limit) {
        return NULL;
    }
    void *grown = realloc(pointer, new_size);
    if (grown == NULL) return NULL;
    rt->used = rt->used - old_size + new_size;
    return grown;
}

static int panic(lua_State *L) {
    const char *message = lua_tostring(L, -1);
    fprintf(stderr, "shoal: unprotected Lua error: %s\n", message ? message : "(not a string)");
    abort();
}

static void open_library(lua_State *L, lua_CFunction open, const char *name, int set_global) {
    lua_pushcfunction(L, open);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (set_global) lua_setglobal(L, name);
    else lua_pop(L, 1);
}

lua_State *shoal_lua_open(void *host) {
    runtime *rt = calloc(1, sizeof(runtime));
    if (rt == NULL) return NULL;
    rt->host = host;
    rt->in_host = 1;
    lua_State *L = lua_newstate(allocate, rt);
    if (L == NULL) {
        free(rt);
        return NULL;
    }
    lua_atpanic(L, panic);
    open_library(L, luaopen_base, "", 0);
    open_library(L, luaopen_table, LUA_TABLIBNAME, 0);
    open_library(L, luaopen_string, LUA_STRLIBNAME, 0);
    open_library(L, luaopen_math, LUA_MATHLIBNAME, 0);
    open_library(L, luaopen_debug, LUA_DBLIBNAME, 0);
    open_library(L, luaopen_cjson, "cjson", 1);
    open_library(L, luaopen_bit, "bit", 1);
    open_library(L, luaopen_struct, "struct", 1);
    open_library(L, luaopen_cmsgpack, "cmsgpack", 1);
    // As Redis: no files, no output from scripts (the sandbox, run next, takes `debug`, getfenv and setfenv
    // away after using them).
    static const char *const removed[] = {"loadfile", "dofile", "print", "newproxy"};
    for (size_t index = 0; index < sizeof removed / sizeof removed[0]; index++) {
        lua_pushnil(L);
        lua_setglobal(L, removed[index]);
    }
    return L;
}

void shoal_lua_close(lua_State *L) {
    runtime *rt = runtime_of(L);
    lua_close(L);
    free(rt);
}

void *shoal_lua_host(lua_State *L) { return runtime_of(L)->host; }

void shoal_lua_set_host(lua_State *L, void *host) { runtime_of(L)->host = host; }

size_t shoal_lua_memory(lua_State *L) { return runtime_of(L)->used; }

void shoal_lua_set_memory_limit(lua_State *L, size_t limit) { runtime_of(L)->limit = limit; }

static int trampoline(lua_State *L) {
    shoal_lua_host_function function = (shoal_lua_host_function)lua_touserdata(L, lua_upvalueindex(1));
    runtime *rt = runtime_of(L);
    rt->in_host++;
    int results = function(L);
    rt->in_host--;
    if (results < 0) return lua_error(L);
    return results;
}

void shoal_lua_push_host_function(lua_State *L, shoal_lua_host_function function) {
    lua_pushlightuserdata(L, (void *)function);
    lua_pushcclosure(L, trampoline, 1);
}

int shoal_lua_pcall(lua_State *L, int nargs, int nresults, int handler) {
    runtime *rt = runtime_of(L);
    int saved = rt->in_host;
    rt->in_host = 0;
    int status = lua_pcall(L, nargs, nresults, handler);
    rt->in_host = saved;
    return status;
}

static void hook(lua_State *L, lua_Debug *debug) {
    (void)debug;
    runtime *rt = runtime_of(L);
    if (rt->check == NULL) return;
    rt->in_host++;
    int abort_script = rt->check(L);
    rt->in_host--;
    if (abort_script) {
        // From now on every instruction aborts, until the host removes the hook after the script.
        lua_sethook(L, hook, LUA_MASKCOUNT, 1);
        lua_error(L);
    }
}

void shoal_lua_set_check(lua_State *L, shoal_lua_check_function check, int every) {
    runtime *rt = runtime_of(L);
    rt->check = check;
    rt->every = every;
    if (check) lua_sethook(L, hook, LUA_MASKCOUNT, every);
    else lua_sethook(L, NULL, 0, 0);
}

int shoal_lua_load(lua_State *L, const char *code, size_t length, const char *name) {
    return luaL_loadbuffer(L, code, length, name);
}

int shoal_lua_upvalue_index(int index) { return lua_upvalueindex(index); }
int shoal_lua_registry_index(void) { return LUA_REGISTRYINDEX; }
int shoal_lua_globals_index(void) { return LUA_GLOBALSINDEX; }
