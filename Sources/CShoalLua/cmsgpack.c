/*
 * lua_cmsgpack.c -- MessagePack encoder/decoder for Lua 5.1 (Shoal).
 *
 * An independent implementation of the interface of the "cmsgpack" module
 * that Redis exposes to EVAL scripts:
 *
 *   cmsgpack.pack(v1, ...)                 -> string (encodings concatenated)
 *   cmsgpack.unpack(data)                  -> all decoded values
 *   cmsgpack.unpack_one(data [, off])      -> nextoff, value
 *   cmsgpack.unpack_limit(data, n [, off]) -> nextoff, up to n values
 *
 * Offsets are 0-based byte offsets; the returned next offset is -1 once the
 * whole input has been consumed.  Encoding rules (matching Redis 7.0):
 *   - numbers that are exactly representable as int64 -> smallest integer
 *     format; other numbers -> float32 if exact, else float64;
 *   - strings -> fixstr / str8 / str16 / str32;
 *   - tables whose keys are exactly 1..n -> array, otherwise map;
 *   - tables nested deeper than 16 levels, nil, functions, userdata,
 *     threads -> nil;
 *   - booleans -> true/false.
 * The decoder understands the types the encoder produces (plus the usual
 * fixed forms); bin/ext types are rejected as "Bad data format in input.".
 *
 * No global state; luaopen_cmsgpack() returns the module table and does not
 * set any global.
 */

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#define MP_MAX_NESTING 16

/* ------------------------------------------------------------------------
 * Output buffer.  The bytes live in a full userdata kept at a fixed
 * (absolute) stack slot, so that a Lua error raised half way through an
 * encoding cannot leak memory, and the encoder is free to push and pop
 * values above it.
 * ---------------------------------------------------------------------- */

typedef struct {
  lua_State *L;
  int slot;             /* absolute stack index of the storage userdata */
  unsigned char *data;
  size_t len;
  size_t cap;
} mp_out;

static void mp_out_init(mp_out *o, lua_State *L) {
  o->L = L;
  o->cap = 64;
  o->len = 0;
  o->data = (unsigned char *)lua_newuserdata(L, o->cap);
  o->slot = lua_gettop(L);
}

static void mp_out_add(mp_out *o, const void *p, size_t n) {
  if (n > o->cap - o->len) {
    size_t want = o->cap;
    unsigned char *fresh;
    while (want - o->len < n) {
      if (want > ((size_t)-1) / 2)
        luaL_error(o->L, "cmsgpack: output too large");
      want *= 2;
    }
    fresh = (unsigned char *)lua_newuserdata(o->L, want);
    memcpy(fresh, o->data, o->len);
    lua_replace(o->L, o->slot);
    o->data = fresh;
    o->cap = want;
  }
  memcpy(o->data + o->len, p, n);
  o->len += n;
}

/* Writes `tag' followed by the low `width' bytes of v, big endian. */
static void mp_out_tagged(mp_out *o, unsigned char tag, uint64_t v, int width) {
  unsigned char tmp[9];
  int k;
  tmp[0] = tag;
  for (k = 0; k < width; k++)
    tmp[1 + k] = (unsigned char)(v >> (8 * (width - 1 - k)));
  mp_out_add(o, tmp, (size_t)width + 1);
}

/* ------------------------------------------------------------------------
 * Encoder
 * ---------------------------------------------------------------------- */

static void mp_put_int(mp_out *o, int64_t n) {
  if (n >= 0) {
    uint64_t u = (uint64_t)n;
    if (u <= 0x7f) {
      unsigned char c = (unsigned char)u;
      mp_out_add(o, &c, 1);
    } else if (u <= 0xff) {
      mp_out_tagged(o, 0xcc, u, 1);
    } else if (u <= 0xffff) {
      mp_out_tagged(o, 0xcd, u, 2);
    } else if (u <= 0xffffffffULL) {
      mp_out_tagged(o, 0xce, u, 4);
    } else {
      mp_out_tagged(o, 0xcf, u, 8);
    }
  } else {
    if (n >= -32) {
      unsigned char c = (unsigned char)(0x100 + n);   /* negative fixint */
      mp_out_add(o, &c, 1);
    } else if (n >= -128) {
      mp_out_tagged(o, 0xd0, (uint64_t)n, 1);
    } else if (n >= -32768) {
      mp_out_tagged(o, 0xd1, (uint64_t)n, 2);
    } else if (n >= -2147483648LL) {
      mp_out_tagged(o, 0xd2, (uint64_t)n, 4);
    } else {
      mp_out_tagged(o, 0xd3, (uint64_t)n, 8);
    }
  }
}

/* True when n is finite, within int64 range and integral. */
static int mp_is_int64(lua_Number n) {
  if (n != n || isinf(n))
    return 0;
  if (n < -9223372036854775808.0 || n >= 9223372036854775808.0)
    return 0;
  return (lua_Number)(int64_t)n == n;
}

static void mp_put_number(mp_out *o, lua_Number n) {
  if (mp_is_int64(n)) {
    mp_put_int(o, (int64_t)n);
  } else {
    double d = (double)n;
    float f = (float)d;
    if ((double)f == d) {
      uint32_t bits;
      memcpy(&bits, &f, sizeof bits);
      mp_out_tagged(o, 0xca, bits, 4);
    } else {
      uint64_t bits;
      memcpy(&bits, &d, sizeof bits);
      mp_out_tagged(o, 0xcb, bits, 8);
    }
  }
}

static void mp_put_str(mp_out *o, const char *s, size_t len) {
  if (len < 32) {
    unsigned char c = (unsigned char)(0xa0 | len);
    mp_out_add(o, &c, 1);
  } else if (len <= 0xff) {
    mp_out_tagged(o, 0xd9, len, 1);
  } else if (len <= 0xffff) {
    mp_out_tagged(o, 0xda, len, 2);
  } else {
    mp_out_tagged(o, 0xdb, len, 4);
  }
  mp_out_add(o, s, len);
}

static void mp_put_container(mp_out *o, size_t n, int is_map) {
  if (n <= 15) {
    unsigned char c = (unsigned char)((is_map ? 0x80 : 0x90) | n);
    mp_out_add(o, &c, 1);
  } else if (n <= 0xffff) {
    mp_out_tagged(o, is_map ? 0xde : 0xdc, n, 2);
  } else {
    mp_out_tagged(o, is_map ? 0xdf : 0xdd, n, 4);
  }
}

/* Is the table at the top of the stack a sequence 1..n (n may be 0)?
 * Keys must be positive integral numbers representable as int. */
static int mp_table_is_sequence(lua_State *L) {
  lua_Number maxkey = 0;
  size_t count = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_Number k;
    lua_pop(L, 1);                               /* drop value, keep key */
    if (lua_type(L, -1) != LUA_TNUMBER ||
        !((k = lua_tonumber(L, -1)) > 0) ||
        k > (lua_Number)INT_MAX ||
        (lua_Number)(int)k != k) {
      lua_pop(L, 1);
      return 0;
    }
    if (k > maxkey)
      maxkey = k;
    count++;
  }
  return maxkey == (lua_Number)count;
}

static void mp_put_value(lua_State *L, mp_out *o, int depth);

static void mp_put_table(lua_State *L, mp_out *o, int depth) {
  luaL_checkstack(L, 3, "cmsgpack: table nesting too deep");
  if (mp_table_is_sequence(L)) {
    size_t n = lua_objlen(L, -1), i;
    mp_put_container(o, n, 0);
    for (i = 1; i <= n; i++) {
      lua_pushnumber(L, (lua_Number)i);
      lua_gettable(L, -2);
      mp_put_value(L, o, depth + 1);
    }
  } else {
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      n++;
    }
    mp_put_container(o, n, 1);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      /* stack: ... table key value */
      lua_pushvalue(L, -2);
      mp_put_value(L, o, depth + 1);   /* the key (pops the copy) */
      mp_put_value(L, o, depth + 1);   /* the value */
    }
  }
}

/* Encodes the value at the top of the stack and pops it. */
static void mp_put_value(lua_State *L, mp_out *o, int depth) {
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, -1, &len);
      mp_put_str(o, s, len);
      break;
    }
    case LUA_TBOOLEAN: {
      unsigned char c = lua_toboolean(L, -1) ? 0xc3 : 0xc2;
      mp_out_add(o, &c, 1);
      break;
    }
    case LUA_TNUMBER:
      mp_put_number(o, lua_tonumber(L, -1));
      break;
    case LUA_TTABLE:
      if (depth < MP_MAX_NESTING) {
        mp_put_table(L, o, depth);
        break;
      }
      /* too deep: fall through and encode nil */
      /* FALLTHROUGH */
    default: {
      unsigned char c = 0xc0;
      mp_out_add(o, &c, 1);
      break;
    }
  }
  lua_pop(L, 1);
}

static int mp_pack(lua_State *L) {
  int nargs = lua_gettop(L);
  int i;
  mp_out o;
  if (nargs == 0)
    return luaL_argerror(L, 0, "MessagePack pack needs input.");
  if (!lua_checkstack(L, 8))
    return luaL_argerror(L, 0, "Too many arguments for MessagePack pack.");
  mp_out_init(&o, L);
  for (i = 1; i <= nargs; i++) {
    lua_pushvalue(L, i);
    mp_put_value(L, &o, 0);
  }
  lua_pushlstring(L, (const char *)o.data, o.len);
  return 1;
}

/* ------------------------------------------------------------------------
 * Decoder
 * ---------------------------------------------------------------------- */

enum { MP_OK = 0, MP_EOF = 1, MP_BADFMT = 2 };

typedef struct {
  const unsigned char *p;
  size_t left;
  int err;
} mp_in;

static uint64_t mp_be(const unsigned char *p, int width) {
  uint64_t v = 0;
  int k;
  for (k = 0; k < width; k++)
    v = (v << 8) | p[k];
  return v;
}

/* Ensures n bytes are available; flags EOF otherwise. */
static int mp_have(mp_in *in, size_t n) {
  if (in->left < n) {
    in->err = MP_EOF;
    return 0;
  }
  return 1;
}

static void mp_skip(mp_in *in, size_t n) {
  in->p += n;
  in->left -= n;
}

static void mp_get_value(lua_State *L, mp_in *in);

static void mp_get_array(lua_State *L, mp_in *in, uint64_t n) {
  lua_Number idx = 1;
  lua_newtable(L);
  /* same message as Redis, which scripts may observe via pcall */
  luaL_checkstack(L, 1, "in function mp_decode_to_lua_array");
  while (n-- > 0) {
    lua_pushnumber(L, idx);
    idx += 1;
    mp_get_value(L, in);
    if (in->err)
      return;
    lua_settable(L, -3);
  }
}

static void mp_get_map(lua_State *L, mp_in *in, uint64_t n) {
  lua_newtable(L);
  /* stack space for key and value is checked by mp_get_value */
  while (n-- > 0) {
    mp_get_value(L, in);
    if (in->err)
      return;
    mp_get_value(L, in);
    if (in->err)
      return;
    lua_settable(L, -3);
  }
}

/* Pushes a string whose length is in the `width' bytes after the tag. */
static void mp_get_str(lua_State *L, mp_in *in, int width) {
  size_t n;
  if (!mp_have(in, 1 + (size_t)width))
    return;
  n = (size_t)mp_be(in->p + 1, width);
  if (n > SIZE_MAX - 1 - (size_t)width || !mp_have(in, 1 + (size_t)width + n))
    return;
  lua_pushlstring(L, (const char *)in->p + 1 + width, n);
  mp_skip(in, 1 + (size_t)width + n);
}

/* Decodes one value and pushes it; on failure sets in->err (the stack may
 * then hold partial results, the caller raises an error anyway). */
static void mp_get_value(lua_State *L, mp_in *in) {
  unsigned char tag;
  if (!mp_have(in, 1))
    return;
  luaL_checkstack(L, 1,
      "too many return values at once; "
      "use unpack_one or unpack_limit instead.");
  tag = in->p[0];
  switch (tag) {
    case 0xc0: lua_pushnil(L); mp_skip(in, 1); return;
    case 0xc2: lua_pushboolean(L, 0); mp_skip(in, 1); return;
    case 0xc3: lua_pushboolean(L, 1); mp_skip(in, 1); return;
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
      int width = 1 << (tag - 0xcc);
      if (!mp_have(in, 1 + (size_t)width))
        return;
      /* Redis 7.0 pushes uint64 through a signed lua_Integer, so values
       * of 2^63 and above come back negative; keep that. */
      lua_pushnumber(L, (lua_Number)(int64_t)mp_be(in->p + 1, width));
      mp_skip(in, 1 + (size_t)width);
      return;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
      int width = 1 << (tag - 0xd0);
      uint64_t v;
      if (!mp_have(in, 1 + (size_t)width))
        return;
      v = mp_be(in->p + 1, width);
      if (width < 8) {                          /* sign extend */
        uint64_t sign = (uint64_t)1 << (8 * width - 1);
        v = (v ^ sign) - sign;
      }
      lua_pushnumber(L, (lua_Number)(int64_t)v);
      mp_skip(in, 1 + (size_t)width);
      return;
    }
    case 0xca: {
      uint32_t bits;
      float f;
      if (!mp_have(in, 5))
        return;
      bits = (uint32_t)mp_be(in->p + 1, 4);
      memcpy(&f, &bits, sizeof f);
      lua_pushnumber(L, (lua_Number)f);
      mp_skip(in, 5);
      return;
    }
    case 0xcb: {
      uint64_t bits;
      double d;
      if (!mp_have(in, 9))
        return;
      bits = mp_be(in->p + 1, 8);
      memcpy(&d, &bits, sizeof d);
      lua_pushnumber(L, (lua_Number)d);
      mp_skip(in, 9);
      return;
    }
    case 0xd9: mp_get_str(L, in, 1); return;
    case 0xda: mp_get_str(L, in, 2); return;
    case 0xdb: mp_get_str(L, in, 4); return;
    case 0xdc: case 0xdd: case 0xde: case 0xdf: {
      int width = (tag == 0xdc || tag == 0xde) ? 2 : 4;
      uint64_t n;
      if (!mp_have(in, 1 + (size_t)width))
        return;
      n = mp_be(in->p + 1, width);
      mp_skip(in, 1 + (size_t)width);
      if (tag <= 0xdd)
        mp_get_array(L, in, n);
      else
        mp_get_map(L, in, n);
      return;
    }
    default:
      break;
  }
  if (tag < 0x80) {                             /* positive fixint */
    lua_pushnumber(L, (lua_Number)tag);
    mp_skip(in, 1);
  } else if (tag >= 0xe0) {                     /* negative fixint */
    lua_pushnumber(L, (lua_Number)((int)tag - 0x100));
    mp_skip(in, 1);
  } else if ((tag & 0xe0) == 0xa0) {            /* fixstr */
    size_t n = tag & 0x1f;
    if (!mp_have(in, 1 + n))
      return;
    lua_pushlstring(L, (const char *)in->p + 1, n);
    mp_skip(in, 1 + n);
  } else if ((tag & 0xf0) == 0x90) {            /* fixarray */
    mp_skip(in, 1);
    mp_get_array(L, in, tag & 0x0f);
  } else if ((tag & 0xf0) == 0x80) {            /* fixmap */
    mp_skip(in, 1);
    mp_get_map(L, in, tag & 0x0f);
  } else {                                      /* bin, ext, 0xc1 ... */
    in->err = MP_BADFMT;
  }
}

/* Common driver.  limit == 0 && offset == 0 means "decode everything and
 * do not return an offset" (this is also what unpack_limit(s, 0) does). */
static int mp_unpack_common(lua_State *L, int limit, int offset) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  int all = (limit == 0 && offset == 0);
  int count;
  mp_in in;

  if (offset < 0 || limit < 0)
    return luaL_error(L,
        "Invalid request to unpack with offset of %d and limit of %d.",
        offset, (int)len);                 /* (sic: reports the length) */
  if ((size_t)offset > len)
    return luaL_error(L, "Start offset %d greater than input length %d.",
                      offset, (int)len);
  if (all)
    limit = INT_MAX;

  lua_settop(L, 1);
  in.p = (const unsigned char *)s + offset;
  in.left = len - (size_t)offset;
  in.err = MP_OK;
  for (count = 0; in.left > 0 && count < limit; count++) {
    mp_get_value(L, &in);
    if (in.err == MP_EOF)
      return luaL_error(L, "Missing bytes in input.");
    if (in.err == MP_BADFMT)
      return luaL_error(L, "Bad data format in input.");
  }
  if (all)
    return count;
  luaL_checkstack(L, 1, "too many return values at once");
  lua_pushinteger(L, in.left == 0 ? -1 : (lua_Integer)(len - in.left));
  lua_insert(L, 2);
  return count + 1;
}

static int mp_unpack(lua_State *L) {
  return mp_unpack_common(L, 0, 0);
}

static int mp_unpack_one(lua_State *L) {
  int offset = (int)luaL_optinteger(L, 2, 0);
  return mp_unpack_common(L, 1, offset);
}

static int mp_unpack_limit(lua_State *L) {
  int limit = (int)luaL_checkinteger(L, 2);
  int offset = (int)luaL_optinteger(L, 3, 0);
  return mp_unpack_common(L, limit, offset);
}

static const luaL_Reg mp_funcs[] = {
  {"pack", mp_pack},
  {"unpack", mp_unpack},
  {"unpack_one", mp_unpack_one},
  {"unpack_limit", mp_unpack_limit},
  {NULL, NULL}
};

int luaopen_cmsgpack(lua_State *L);

int luaopen_cmsgpack(lua_State *L) {
  lua_newtable(L);
  luaL_register(L, NULL, mp_funcs);
  /* informational fields present in the Redis module */
  lua_pushliteral(L, "cmsgpack");
  lua_setfield(L, -2, "_NAME");
  lua_pushliteral(L, "lua-cmsgpack 0.4.0");
  lua_setfield(L, -2, "_VERSION");
  lua_pushliteral(L, "Copyright (C) 2012, Salvatore Sanfilippo");
  lua_setfield(L, -2, "_COPYRIGHT");
  lua_pushliteral(L, "MessagePack C implementation for Lua");
  lua_setfield(L, -2, "_DESCRIPTION");
  return 1;
}
