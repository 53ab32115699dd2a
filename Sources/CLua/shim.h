#ifndef CLUA_SHIM_H
#define CLUA_SHIM_H
// Lua 5.1 (Debian: liblua5.1-0-dev) and the two libraries Redis loads that Debian packages: cjson
// (lua-cjson-dev) and bit (lua-bitop-dev).
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <lua-cjson.h>
#include <lua-bitop.h>
#endif
