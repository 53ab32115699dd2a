/*
 * lua_struct.c -- binary packing/unpacking for Lua 5.1 (Shoal).
 *
 * An independent implementation of the interface of the "struct" library
 * that Redis exposes to EVAL scripts:
 *
 *   struct.pack(fmt, v1, v2, ...)        -> string
 *   struct.unpack(fmt, data [, pos])     -> v1, v2, ..., nextpos
 *   struct.size(fmt)                     -> integer
 *
 * Format characters:
 *   '<' little endian      '>' big endian      ' ' ignored
 *   '![n]' set maximum alignment to n (default: natural alignment of double)
 *   'x'  one zero byte of padding
 *   'b'/'B' signed/unsigned char     'h'/'H' signed/unsigned short
 *   'l'/'L' signed/unsigned long     'T' size_t
 *   'i[n]'/'I[n]' signed/unsigned integer of n bytes (default sizeof(int))
 *   'f' float   'd' double
 *   's'  zero terminated string
 *   'c[n]' n raw bytes (default 1).  'c0': on pack, the whole string; on
 *        unpack, the length is the previously unpacked number.
 *
 * Behaviour (including error messages and the odd corner cases) follows the
 * library embedded in Redis 7.0, as determined by black-box experiments.
 * By default '=' is rejected like Redis does; compile with
 * -DSHOAL_STRUCT_NATIVE_OPTION to accept '=' as "native endianness".
 *
 * No global state; luaopen_struct() returns the module table and does not
 * set any global.
 */

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

/* Largest integer size accepted by 'i'/'I'. */
#define ST_INT_LIMIT 32

/* Integers are computed in this many bytes; wider fields are zero padded. */
#define ST_WORD ((int)sizeof(uint64_t))

/* Default value for '!' : natural alignment of a double. */
struct st_align_probe { char c; double d; };
#define ST_DEFAULT_ALIGN ((int)offsetof(struct st_align_probe, d))

enum { ST_LITTLE = 0, ST_BIG = 1 };

typedef struct {
  int endian;   /* ST_LITTLE or ST_BIG */
  int align;    /* maximum alignment, a power of 2 */
} st_state;

static int st_native_endian(void) {
  const uint16_t probe = 1;
  return (*(const unsigned char *)&probe == 1) ? ST_LITTLE : ST_BIG;
}

static void st_reset(st_state *st) {
  st->endian = st_native_endian();
  st->align = 1;
}

/* Reads an optional decimal count from *fmt; returns dflt when absent. */
static int st_count(lua_State *L, const char **fmt, int dflt) {
  int n = 0;
  if (!isdigit((unsigned char)**fmt))
    return dflt;
  while (isdigit((unsigned char)**fmt)) {
    int digit = **fmt - '0';
    if (n > (INT_MAX - digit) / 10)
      luaL_error(L, "integral size overflow");
    n = n * 10 + digit;
    (*fmt)++;
  }
  return n;
}

/* Size in bytes of the item described by option `op' (0 for options that
 * have no size of their own); consumes a trailing count where relevant. */
static size_t st_itemsize(lua_State *L, int op, const char **fmt) {
  switch (op) {
    case 'b': case 'B': return sizeof(char);
    case 'h': case 'H': return sizeof(short);
    case 'l': case 'L': return sizeof(long);
    case 'T': return sizeof(size_t);
    case 'f': return sizeof(float);
    case 'd': return sizeof(double);
    case 'x': return 1;
    case 'c': return (size_t)st_count(L, fmt, 1);
    case 'i': case 'I': {
      int n = st_count(L, fmt, (int)sizeof(int));
      if (n > ST_INT_LIMIT)
        luaL_error(L, "integral size %d is larger than limit of %d",
                   n, ST_INT_LIMIT);
      return (size_t)n;
    }
    default: return 0;
  }
}

/* Number of padding bytes needed at offset `pos' before an item of `size'
 * bytes.  Deliberately uses the same mask arithmetic as the reference, so
 * that odd sizes such as i3 pad identically. */
static size_t st_padding(size_t pos, const st_state *st, int op, size_t size) {
  if (size == 0 || op == 'c')
    return 0;
  if (size > (size_t)st->align)
    size = (size_t)st->align;
  return (size - (pos & (size - 1))) & (size - 1);
}

/* Handles the non-data options; anything unknown is an argument error. */
static void st_control(lua_State *L, int op, const char **fmt, st_state *st) {
  switch (op) {
    case ' ':
      return;
    case '<':
      st->endian = ST_LITTLE;
      return;
    case '>':
      st->endian = ST_BIG;
      return;
#ifdef SHOAL_STRUCT_NATIVE_OPTION
    case '=':
      st->endian = st_native_endian();
      return;
#endif
    case '!': {
      int a = st_count(L, fmt, ST_DEFAULT_ALIGN);
      if (a <= 0 || (a & (a - 1)) != 0)
        luaL_error(L, "alignment %d is not a power of 2", a);
      st->align = a;
      return;
    }
    default:
      luaL_argerror(L, 1, lua_pushfstring(L, "invalid format option '%c'", op));
  }
}

/* Converts a Lua number to the 64-bit pattern the reference produces on
 * x86-64 (where out-of-range conversions yield 0x8000000000000000 from
 * cvttsd2si), without invoking undefined behaviour in C. */
static uint64_t st_num2bits(lua_Number n) {
  const double two63 = 9223372036854775808.0;
  const double two64 = 18446744073709551616.0;
  const uint64_t indefinite = (uint64_t)1 << 63;
  if (n < 0) {
    if (n >= -two63)
      return (uint64_t)(int64_t)n;
    return indefinite;
  }
  if (n != n)                       /* NaN */
    return indefinite;
  if (n < two63)
    return (uint64_t)(int64_t)n;
  if (n < two64)
    return (uint64_t)(int64_t)(n - two63) ^ indefinite;
  return 0;                         /* indefinite ^ indefinite */
}

static void st_put_int(lua_State *L, luaL_Buffer *b, int arg, int endian,
                       size_t size) {
  unsigned char out[ST_INT_LIMIT];
  uint64_t v = st_num2bits(luaL_checknumber(L, arg));
  size_t k;
  for (k = 0; k < size; k++) {
    /* k counts bytes from the least significant one */
    unsigned char byte = (k < (size_t)ST_WORD) ? (unsigned char)(v >> (8 * k)) : 0;
    out[endian == ST_LITTLE ? k : size - 1 - k] = byte;
  }
  luaL_addlstring(b, (const char *)out, size);
}

static lua_Number st_get_int(const unsigned char *p, int endian, int is_signed,
                             size_t size) {
  uint64_t v = 0;
  size_t k;
  if (size == 0)
    return 0;
  /* accumulate from the most significant byte; excess high bytes fall off */
  for (k = size; k-- > 0;) {
    unsigned char byte = p[endian == ST_LITTLE ? k : size - 1 - k];
    v = (v << 8) | byte;
  }
  if (!is_signed)
    return (lua_Number)v;
  if (size < (size_t)ST_WORD) {
    uint64_t sign = (uint64_t)1 << (8 * size - 1);
    v = (v ^ sign) - sign;
  }
  return (lua_Number)(int64_t)v;
}

/* Copies `size' bytes from src to dst, reversing them when the requested
 * byte order differs from the machine's. */
static void st_copy_ordered(void *dst, const void *src, size_t size, int endian) {
  if (endian == st_native_endian()) {
    memcpy(dst, src, size);
  } else {
    const unsigned char *s = (const unsigned char *)src;
    unsigned char *d = (unsigned char *)dst;
    size_t k;
    for (k = 0; k < size; k++)
      d[k] = s[size - 1 - k];
  }
}

static int st_pack(lua_State *L) {
  const char *fmt = luaL_checkstring(L, 1);
  int arg = 2;
  size_t total = 0;
  st_state st;
  luaL_Buffer b;
  st_reset(&st);
  lua_pushnil(L);  /* keep the buffer away from the argument slots */
  luaL_buffinit(L, &b);
  while (*fmt != '\0') {
    int op = (unsigned char)*fmt++;
    size_t size = st_itemsize(L, op, &fmt);
    size_t pad = st_padding(total, &st, op, size);
    total += pad;
    while (pad-- > 0)
      luaL_addchar(&b, '\0');
    switch (op) {
      case 'b': case 'B': case 'h': case 'H':
      case 'l': case 'L': case 'T': case 'i': case 'I':
        st_put_int(L, &b, arg++, st.endian, size);
        break;
      case 'x':
        luaL_addchar(&b, '\0');
        break;
      case 'f': {
        float f = (float)luaL_checknumber(L, arg++);
        char tmp[sizeof(float)];
        st_copy_ordered(tmp, &f, sizeof f, st.endian);
        luaL_addlstring(&b, tmp, sizeof tmp);
        break;
      }
      case 'd': {
        double d = (double)luaL_checknumber(L, arg++);
        char tmp[sizeof(double)];
        st_copy_ordered(tmp, &d, sizeof d, st.endian);
        luaL_addlstring(&b, tmp, sizeof tmp);
        break;
      }
      case 'c': case 's': {
        size_t len;
        const char *s = luaL_checklstring(L, arg, &len);
        arg++;
        if (size == 0)
          size = len;
        /* the reference reports the argument after the string here */
        luaL_argcheck(L, len >= size, arg, "string too short");
        luaL_addlstring(&b, s, size);
        if (op == 's') {
          luaL_addchar(&b, '\0');
          size++;
        }
        break;
      }
      default:
        st_control(L, op, &fmt, &st);
        break;
    }
    total += size;
  }
  luaL_pushresult(&b);
  return 1;
}

static int st_unpack(lua_State *L) {
  const char *fmt = luaL_checkstring(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  /* as in the reference, the offset is taken as unsigned: only 0 is
   * rejected here, negative offsets fail the bounds checks below */
  size_t pos = (size_t)luaL_optinteger(L, 3, 1);
  int nres = 0;
  st_state st;
  luaL_argcheck(L, pos > 0, 3, "offset must be 1 or greater");
  pos--;
  st_reset(&st);
  while (*fmt != '\0') {
    int op = (unsigned char)*fmt++;
    size_t size = st_itemsize(L, op, &fmt);
    pos += st_padding(pos, &st, op, size);
    luaL_argcheck(L, pos <= len && size <= len - pos, 2, "data string too short");
    luaL_checkstack(L, 2, "too many results");
    switch (op) {
      case 'b': case 'B': case 'h': case 'H':
      case 'l': case 'L': case 'T': case 'i': case 'I':
        lua_pushnumber(L, st_get_int((const unsigned char *)data + pos,
                                     st.endian, islower(op), size));
        nres++;
        break;
      case 'x':
        break;
      case 'f': {
        float f;
        st_copy_ordered(&f, data + pos, sizeof f, st.endian);
        lua_pushnumber(L, (lua_Number)f);
        nres++;
        break;
      }
      case 'd': {
        double d;
        st_copy_ordered(&d, data + pos, sizeof d, st.endian);
        lua_pushnumber(L, (lua_Number)d);
        nres++;
        break;
      }
      case 'c':
        if (size == 0) {
          if (nres == 0 || !lua_isnumber(L, -1))
            luaL_error(L, "format 'c0' needs a previous size");
          size = (size_t)st_num2bits(lua_tonumber(L, -1));
          lua_pop(L, 1);
          nres--;
          luaL_argcheck(L, size <= len && pos <= len - size, 2,
                        "data string too short");
        }
        lua_pushlstring(L, data + pos, size);
        nres++;
        break;
      case 's': {
        const char *end = (const char *)memchr(data + pos, '\0', len - pos);
        if (end == NULL)
          luaL_error(L, "unfinished string in data");
        size = (size_t)(end - (data + pos)) + 1;
        lua_pushlstring(L, data + pos, size - 1);
        nres++;
        break;
      }
      default:
        st_control(L, op, &fmt, &st);
        break;
    }
    pos += size;
  }
  lua_pushinteger(L, (lua_Integer)pos + 1);
  return nres + 1;
}

static int st_size(lua_State *L) {
  const char *fmt = luaL_checkstring(L, 1);
  size_t total = 0;
  st_state st;
  st_reset(&st);
  while (*fmt != '\0') {
    int op = (unsigned char)*fmt++;
    size_t size = st_itemsize(L, op, &fmt);
    total += st_padding(total, &st, op, size);
    if (op == 's')
      luaL_argerror(L, 1, "option 's' has no fixed size");
    else if (op == 'c' && size == 0)
      luaL_argerror(L, 1, "option 'c0' has no fixed size");
    /* like the reference, unknown alphanumeric options are ignored here */
    if (!isalnum(op))
      st_control(L, op, &fmt, &st);
    total += size;
  }
  lua_pushinteger(L, (lua_Integer)total);
  return 1;
}

static const luaL_Reg st_funcs[] = {
  {"pack", st_pack},
  {"unpack", st_unpack},
  {"size", st_size},
  {NULL, NULL}
};

int luaopen_struct(lua_State *L);

int luaopen_struct(lua_State *L) {
  lua_newtable(L);
  luaL_register(L, NULL, st_funcs);
  return 1;
}
