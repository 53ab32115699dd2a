#ifndef CSHOAL_LUA_H
#define CSHOAL_LUA_H
// The C side of Shoal's Lua engine: what must not be written in Swift because Lua may longjmp through it.
//
// Lua reports errors with longjmp. A longjmp across Swift frames skips their releases and exclusivity
// bookkeeping, so no Swift function ever raises a Lua error or lets Lua raise one over it:
// - Swift functions registered in Lua run through a C trampoline: they return a result count, or -1 with the
//   error value pushed, and the trampoline raises it once Swift has returned.
// - The allocator fails (Lua's "not enough memory" error) only while Lua code runs, never while Swift is on
//   the stack (inside a trampoline, or between protected calls): a script's memory is bounded, and a Swift
//   push never longjmps.
// - The instruction hook (the script time limit, SCRIPT KILL) asks Swift, then raises in C.
#include <stddef.h>
#include <lua.h>

/// A Swift function callable from Lua: returns how many results it pushed, or -1 to raise the value on top.
typedef int (*shoal_lua_host_function)(lua_State *L);

/// Called every `every` instructions of a running script: 0 to go on, 1 to abort it with the value it pushed
/// (and every following instruction aborts again, so a script's own pcall can't swallow the kill).
typedef int (*shoal_lua_check_function)(lua_State *L);

/// A new state with Redis's libraries (base, table, string, math, debug, cjson, bit, struct, cmsgpack) and
/// `host` remembered for `shoal_lua_host`. NULL if out of memory.
lua_State *shoal_lua_open(void *host);
void shoal_lua_close(lua_State *L);
void *shoal_lua_host(lua_State *L);
void shoal_lua_set_host(lua_State *L, void *host);

/// Bytes Lua holds now, and the bound past which a running script's allocations fail (0: none).
size_t shoal_lua_memory(lua_State *L);
void shoal_lua_set_memory_limit(lua_State *L, size_t limit);

/// Pushes `function` as a Lua C function (through the trampoline).
void shoal_lua_push_host_function(lua_State *L, shoal_lua_host_function function);

/// lua_pcall (with the message handler at stack index `handler`, or 0) with the memory bound in force while Lua
/// runs.
int shoal_lua_pcall(lua_State *L, int nargs, int nresults, int handler);

/// Installs (check != NULL) or removes the instruction hook.
void shoal_lua_set_check(lua_State *L, shoal_lua_check_function check, int every);

/// luaL_loadbuffer, with the memory bound not in force (compiling is the host's work).
int shoal_lua_load(lua_State *L, const char *code, size_t length, const char *name);

// Lua's macros, as functions Swift can call.
int shoal_lua_upvalue_index(int index);
int shoal_lua_registry_index(void);
int shoal_lua_globals_index(void);

#endif
