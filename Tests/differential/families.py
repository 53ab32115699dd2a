"""The command families the differential harness draws from. Each family is a function of a random.Random
that returns one command; FAMILIES maps a name to it and to the setups (CONFIG SET lines on both servers) it
runs under. Arguments are hostile on purpose: negative and huge counts, inverted ranges, wrong types, binary and
NUL-laden keys and values, float edge cases, empty strings.

A command whose reply differs from redis-server's on purpose (docs/COMPATIBILITY.md) is not drawn."""
from collections import namedtuple

Family = namedtuple("Family", "generate setups steps")

KEYS = ["a", "b", "c", "n", "counter", "{x}1", "{x}2", "long:" + "k" * 50]
VALUES = ["1", "0", "-5", "10", "abc", "", "3.5", "9223372036854775807", "v" * 60, "1\x00", "\x00", " 1", "1 ",
          "-0", "+1", "0x10", "1e3", "9223372036854775808", "-9223372036854775808"]
FLOATS = ["1.5", "-2.25", "1e3", "inf", "-inf", "nan", " 1", "1 ", ".5", "5.", "+1", "abc", "1\x00", "0"]
INDICES = ["0", "-1", "1", "-100", "100", "9223372036854775807", "-9223372036854775808", "x"]


def random_command(rng):
    """Strings, keys, expiry, databases and transactions (exact bytes)."""
    key = rng.choice(KEYS)
    other = rng.choice(KEYS)
    value = rng.choice(VALUES)
    choices = [
        ["SET", key, value], ["SET", key, value, "NX"], ["SET", key, value, "XX", "GET"], ["GET", key],
        ["INCR", key], ["INCRBY", key, rng.choice(["2", "-3", "x"])], ["DECR", key], ["APPEND", key, value],
        ["STRLEN", key], ["GETSET", key, value], ["SETNX", key, value], ["GETDEL", key], ["TYPE", key],
        ["DEL", key, other], ["EXISTS", key, other, key], ["MSET", key, value, other, value], ["MGET", key, other],
        ["MSETNX", key, value, other, value], ["RENAME", key, other], ["RENAMENX", key, other],
        ["EXPIRE", key, "1000"], ["PERSIST", key], ["COPY", key, other], ["COPY", key, other, "DB", "1", "REPLACE"],
        ["MOVE", key, "1"], ["SELECT", rng.choice(["0", "1", "16"])], ["DBSIZE"], ["SWAPDB", "0", "1"],
        ["GETRANGE", key, "0", "-1"], ["SETRANGE", key, "2", value],
        ["GETRANGE", key, rng.choice(INDICES), rng.choice(INDICES)], ["SETRANGE", key, rng.choice(INDICES), value],
        ["INCRBYFLOAT", key, rng.choice(FLOATS)], ["INCRBY", key, rng.choice(VALUES)],
        # No deadline that can pass during the run (PX 100 was 100 ms): when the two servers reclaim an expired
        # key is their own business, and DBSIZE counts keys not yet reclaimed (seen: a flaky DBSIZE).
        ["SET", key, value, rng.choice(["EX", "PX"]), rng.choice(["0", "-1", "x", "9223372036854775807", "100000"])],
        ["GETEX", key, rng.choice(["PERSIST", "EX", "PX"]), rng.choice(["100000", "0", "x"])],
        # Transactions, often, so that queues, aborts, WATCH and nesting are all reached.
        ["MULTI"], ["MULTI"], ["EXEC"], ["EXEC"], ["DISCARD"], ["WATCH", key], ["WATCH", key, other], ["UNWATCH"],
        ["GET"], ["NOSUCHCOMMAND", key],
    ]
    if rng.random() < 0.01:
        return ["FLUSHDB"]
    return rng.choice(choices)




COLLECTION_KEYS = ["h1", "h2", "s1", "s2", "s3", "str", "l1", "l2", "l3", "z1", "z2", "z3"]
SCORES = ["1", "2", "-1", "0", "1.5", "0.1", "inf", "-inf", "+inf", "x", "nan", " 1", "1e300", "0x10", "(1"]
RANGES = ["-inf", "+inf", "(1", "1", "(0", "2.5", "x", "(", "", "(inf"]
LEX = ["-", "+", "[a", "(a", "[c", "(m", "a", "[", "("]
PLACES = [("13.361389", "38.115556", "Palermo"), ("15.087269", "37.502669", "Catania"), ("2.3522", "48.8566", "Paris"),
          ("-0.1276", "51.5072", "London"), ("139.6917", "35.6895", "Tokyo"), ("12.4964", "41.9028", "Rome"),
          ("0", "0", "zero"), ("181", "0", "bad"), ("0", "85.06", "bad-lat")]
GEO_KEYS = ["g1", "g2"]


def random_sort_command(rng):
    key = rng.choice(["l1", "l2", "s1", "s2", "z1", "zl", "str", "h1", "nokey"])  # SORT only reads "zl"
    member = rng.choice(MEMBERS)
    command = [rng.choice(["SORT", "SORT", "SORT_RO"]), key]
    by = rng.choice([[], [], ["BY", "w_*"], ["BY", "nosort"], ["BY", "h_*->f"]])
    command += by
    for _ in range(rng.randrange(3)):
        command += ["GET", rng.choice(["#", "w_*", "h_*->f", "missing", "h_*->"])]
    # BY nosort keeps a set in its table's order, which differs between servers: no LIMIT with it (the replies
    # are compared sorted). nosort with LIMIT and DESC on a list is checked in test_sorted_sets.py.
    if rng.random() < 0.3 and by != ["BY", "nosort"]:
        command += ["LIMIT", rng.choice(["0", "1", "-1", "5", "x"]), rng.choice(["2", "-1", "0", "10"])]
    command += rng.choice([[], ["ASC"], ["DESC"]])
    if not by and rng.random() < 0.4:
        command.append("ALPHA")  # ALPHA with BY ties is left to qsort in Redis: not compared
    if command[0] == "SORT" and rng.random() < 0.3:
        command += ["STORE", rng.choice(["l3", "dst", "str"])]
    return rng.choice([command, command, ["SET", "w_" + member, rng.choice(VALUES)],
                       ["HSET", "h_" + member, "f", rng.choice(VALUES)], ["LRANGE", "dst", "0", "-1"]])


def random_geo_command(rng):
    key, other = rng.choice(GEO_KEYS), rng.choice(GEO_KEYS + ["str"])
    lon, lat, place = rng.choice(PLACES)
    # No place near a pole or across the antimeridian from another: there Redis's search boxes miss members
    # that are within the radius, and Shoal doesn't (docs/COMPATIBILITY.md).
    center_lon, center_lat, _ = rng.choice(PLACES[:7])
    unit = rng.choice(["m", "km", "ft", "mi", "KM", "yd"])
    radius = rng.choice(["100", "500", "1000", "5000", "0", "-1", "x"])
    member = rng.choice([p[2] for p in PLACES] + ["nope"])
    withs = rng.sample(["WITHDIST", "WITHCOORD", "WITHHASH"], rng.randrange(4))
    order = rng.choice([[], ["ASC"], ["DESC"], ["COUNT", "3"], ["COUNT", "2", "DESC"], ["COUNT", "0"], ["ANY"]])
    return rng.choice([
        ["GEOADD", key, lon, lat, place], ["GEOADD", key, rng.choice(["NX", "XX", "CH"]), lon, lat, place],
        ["GEOADD", key, lon, lat], ["GEODIST", key, member, rng.choice(PLACES)[2], unit], ["GEODIST", key, member, place],
        ["GEOHASH", key, member, place], ["GEOPOS", key, member, place],
        ["GEORADIUS", key, center_lon, center_lat, radius, unit] + withs + order,
        ["GEORADIUS_RO", key, center_lon, center_lat, radius, unit] + order, ["GEORADIUS", key, lon, lat, "x", "km"],
        ["GEORADIUSBYMEMBER", key, member, radius, unit] + withs + order,
        ["GEORADIUS", key, center_lon, center_lat, radius, "km", "STORE", other],
        ["GEORADIUS", key, center_lon, center_lat, radius, "km", "STOREDIST", other],
        ["GEOSEARCH", key, "FROMMEMBER", member, "BYRADIUS", radius, unit] + withs + order,
        ["GEOSEARCH", key, "FROMLONLAT", center_lon, center_lat, "BYBOX", radius, rng.choice(["500", "2000"]), unit]
        + withs + order,
        ["GEOSEARCH", key, "BYRADIUS", radius, unit], ["GEOSEARCH", key, "FROMMEMBER", member],
        ["GEOSEARCHSTORE", other, key, "FROMLONLAT", center_lon, center_lat, "BYRADIUS", radius, "km"]
        + rng.choice([[], ["STOREDIST"]]),
        ["ZRANGE", key, "0", "-1", "WITHSCORES"], ["ZRANGE", other, "0", "-1", "WITHSCORES"],
    ])
FIELDS = ["f1", "f2", "f3", "f4", "f5", "f6", "1", "2", "-3", "0", "9223372036854775807", "07", "x" * 70]
MEMBERS = ["1", "2", "3", "-4", "100000", "5000000000", "-0", "07", "a", "b", "c", "m" * 70, ""]
COUNTS = ["0", "1", "3", "-3", "10", "-10", "x", "-9223372036854775808", "9223372036854775807"]


def random_collection_command(rng):
    key, other, third = (rng.choice(COLLECTION_KEYS) for _ in range(3))
    field, member = rng.choice(FIELDS), rng.choice(MEMBERS)
    value = rng.choice(VALUES)
    choices = [
        ["HSET", key, field, value], ["HSET", key, field, value, rng.choice(FIELDS), value], ["HSET", key, field],
        ["HSETNX", key, field, value], ["HMSET", key, field, value], ["HGET", key, field],
        ["HMGET", key, field, rng.choice(FIELDS)], ["HDEL", key, field, rng.choice(FIELDS)], ["HEXISTS", key, field],
        ["HLEN", key], ["HSTRLEN", key, field], ["HKEYS", key], ["HVALS", key], ["HGETALL", key],
        ["HINCRBY", key, field, rng.choice(["1", "-2", "x", "9223372036854775807"])],
        ["HINCRBYFLOAT", key, field, rng.choice(FLOATS)], ["HRANDFIELD", key],
        ["HRANDFIELD", key, rng.choice(COUNTS)], ["HRANDFIELD", key, rng.choice(COUNTS), "WITHVALUES"],
        ["HRANDFIELD", key, "1", "WITHSCORES"], ["HSCAN", key, "0", "COUNT", "1000"],
        ["HSCAN", key, "0", "MATCH", "f*", "COUNT", "1000"], ["HSCAN", key, "x"], ["HSCAN", key, "0", "COUNT", "0"],
        ["SADD", key, member, rng.choice(MEMBERS)], ["SADD", key, member], ["SREM", key, member, rng.choice(MEMBERS)],
        ["SISMEMBER", key, member], ["SMISMEMBER", key, member, rng.choice(MEMBERS)], ["SCARD", key],
        ["SMEMBERS", key], ["SPOP", key, "1000"], ["SPOP", key, rng.choice(["-1", "x", "0"])], ["SPOP", key, "1", "2"],
        ["SRANDMEMBER", key], ["SRANDMEMBER", key, rng.choice(COUNTS)], ["SMOVE", key, other, member],
        ["SINTER", key, other], ["SINTER", key, other, third], ["SUNION", key, other], ["SDIFF", key, other, third],
        ["SINTERSTORE", key, other, third], ["SUNIONSTORE", key, other, third], ["SDIFFSTORE", key, other],
        ["SINTERCARD", rng.choice(["2", "0", "3", "x"]), key, other],
        ["SINTERCARD", "2", key, other, "LIMIT", rng.choice(["1", "0", "-1", "x"])], ["SINTERCARD", "1", key, "BAD"],
        ["SSCAN", key, "0", "COUNT", "1000"], ["SSCAN", key, "0", "MATCH", "[ab]*", "COUNT", "1000"],
        ["OBJECT", "ENCODING", key], ["TYPE", key], ["EXISTS", key], ["DEL", key], ["GET", key], ["SET", key, value],
        ["INCR", key], ["APPEND", key, value], ["STRLEN", key], ["MGET", key, other], ["GETSET", key, value],
        ["RENAME", key, other], ["COPY", key, other], ["COPY", key, other, "REPLACE"], ["MOVE", key, "1"],
        ["EXPIRE", key, "1000"], ["TTL", key], ["OBJECT", "ENCODING", key], ["OBJECT", "ENCODING", key],
        # Lists, with the blocking forms at a short timeout (both servers wait it out the same way).
        ["LPUSH", key, member, value], ["RPUSH", key, member], ["LPUSHX", key, member], ["RPUSHX", key, value],
        ["LPOP", key], ["RPOP", key], ["LPOP", key, rng.choice(COUNTS)], ["RPOP", key, "2", "3"], ["LLEN", key],
        ["LRANGE", key, rng.choice(INDICES), rng.choice(INDICES)], ["LRANGE", key, "0", "-1"],
        ["LINDEX", key, rng.choice(INDICES)], ["LSET", key, rng.choice(INDICES), value],
        ["LINSERT", key, rng.choice(["BEFORE", "AFTER", "NEAR"]), member, value], ["LREM", key, rng.choice(COUNTS), member],
        ["LTRIM", key, rng.choice(INDICES), rng.choice(INDICES)], ["LPOS", key, member],
        ["LPOS", key, member, "RANK", rng.choice(COUNTS), "COUNT", rng.choice(COUNTS), "MAXLEN", rng.choice(COUNTS)],
        ["LPOS", key, member, "COUNT", "0"], ["LMOVE", key, other, rng.choice(["LEFT", "RIGHT"]), rng.choice(["LEFT", "RIGHT", "UP"])],
        ["RPOPLPUSH", key, other], ["LMPOP", rng.choice(["1", "2", "0", "x"]), key, other, rng.choice(["LEFT", "RIGHT"])],
        ["LMPOP", "2", key, other, "RIGHT", "COUNT", rng.choice(COUNTS)],
        ["BLPOP", key, other, rng.choice(["0.01", "-1", "x"])], ["BRPOP", key, "0.01"],
        ["BLMOVE", key, other, "RIGHT", "LEFT", "0.01"], ["BRPOPLPUSH", key, other, "0.01"],
        ["BLMPOP", "0.01", "2", key, other, "LEFT", "COUNT", "2"],
    ]
    # Sorted sets. Only ZADD zl 0 ... writes "zl", so the BYLEX commands (defined for equal scores) run on a
    # set whose scores are all equal.
    score = rng.choice(SCORES)
    lexkey = "zl"
    choices += [
        ["ZADD", key, score, member], ["ZADD", key, score, member, rng.choice(SCORES), rng.choice(MEMBERS)],
        ["ZADD", "zl", "0", member, "0", rng.choice(MEMBERS)], ["ZADD", "zl", "0", member], ["ZREM", "zl", member],
        ["ZADD", key, rng.choice(["NX", "XX", "GT", "LT", "CH", "INCR"]), score, member],
        ["ZADD", key, "XX", "CH", "GT", score, member], ["ZADD", key, "NX", "XX", score, member],
        ["ZADD", key, "INCR", score, member, score, member], ["ZADD", key, score],
        ["ZINCRBY", key, rng.choice(SCORES), member], ["ZREM", key, member, rng.choice(MEMBERS)], ["ZCARD", key],
        ["ZSCORE", key, member], ["ZMSCORE", key, member, rng.choice(MEMBERS)], ["ZRANK", key, member],
        ["ZREVRANK", key, member], ["ZCOUNT", key, rng.choice(RANGES), rng.choice(RANGES)],
        ["ZLEXCOUNT", lexkey, rng.choice(LEX), rng.choice(LEX)],
        ["ZRANGE", key, rng.choice(INDICES), rng.choice(INDICES)], ["ZRANGE", key, "0", "-1", "WITHSCORES"],
        ["ZRANGE", key, rng.choice(RANGES), rng.choice(RANGES), "BYSCORE", "LIMIT", rng.choice(COUNTS), rng.choice(COUNTS)],
        ["ZRANGE", key, rng.choice(RANGES), rng.choice(RANGES), "BYSCORE", "REV", "WITHSCORES"],
        ["ZRANGE", lexkey, rng.choice(LEX), rng.choice(LEX), "BYLEX", rng.choice(["REV", "WITHSCORES", "LIMIT"])],
        ["ZRANGE", key, "0", "1", "LIMIT", "0", "1"], ["ZRANGESTORE", other, key, "0", "-1"],
        ["ZRANGESTORE", other, key, rng.choice(RANGES), rng.choice(RANGES), "BYSCORE"],
        ["ZREVRANGE", key, rng.choice(INDICES), rng.choice(INDICES), "WITHSCORES"],
        ["ZRANGEBYSCORE", key, rng.choice(RANGES), rng.choice(RANGES), "WITHSCORES", "LIMIT", "1", "2"],
        ["ZREVRANGEBYSCORE", key, rng.choice(RANGES), rng.choice(RANGES)],
        ["ZRANGEBYLEX", lexkey, rng.choice(LEX), rng.choice(LEX)], ["ZREVRANGEBYLEX", lexkey, rng.choice(LEX), rng.choice(LEX)],
        ["ZREMRANGEBYRANK", key, rng.choice(INDICES), rng.choice(INDICES)],
        ["ZREMRANGEBYSCORE", key, rng.choice(RANGES), rng.choice(RANGES)],
        ["ZREMRANGEBYLEX", lexkey, rng.choice(LEX), rng.choice(LEX)],
        ["ZPOPMIN", key], ["ZPOPMAX", key, rng.choice(COUNTS)], ["ZPOPMIN", key, "1", "2"],
        ["ZMPOP", rng.choice(["1", "2", "0"]), key, other, rng.choice(["MIN", "MAX", "MID"])],
        ["ZMPOP", "2", key, other, "MAX", "COUNT", rng.choice(COUNTS)],
        ["BZPOPMIN", key, other, "0.01"], ["BZPOPMAX", key, "0.01"], ["BZMPOP", "0.01", "1", key, "MIN", "COUNT", "3"],
        ["ZRANDMEMBER", key], ["ZRANDMEMBER", key, rng.choice(COUNTS), "WITHSCORES"], ["ZSCAN", key, "0", "COUNT", "1000"],
        ["ZUNION", "2", key, other, "WITHSCORES"], ["ZINTER", "2", key, other, "WEIGHTS", "2", rng.choice(SCORES)],
        ["ZUNION", "2", key, other, "AGGREGATE", rng.choice(["MIN", "MAX", "SUM", "AVG"]), "WITHSCORES"],
        ["ZDIFF", "2", key, other, "WITHSCORES"], ["ZDIFF", "1", key, "WEIGHTS", "1"], ["ZUNION", "0", key],
        ["ZUNIONSTORE", third, "2", key, other], ["ZINTERSTORE", third, "2", key, other, "AGGREGATE", "MAX"],
        ["ZDIFFSTORE", third, "2", key, other], ["ZINTERCARD", "2", key, other, "LIMIT", rng.choice(["0", "1", "-1"])],
        ["ZUNION", "3", key, other], ["ZINTERCARD", rng.choice(["0", "x", "3"]), key, other],
    ]
    return rng.choice(choices)


def collections_family(rng):
    """Hashes, sets, lists, sorted sets (80%), geo (10%) and SORT (10%), order-insensitive where Redis's is."""
    draw = rng.random()
    return (random_collection_command(rng) if draw < 0.8 else random_geo_command(rng) if draw < 0.9
            else random_sort_command(rng))


# --- Bitmaps and LCS ------------------------------------------------------------------------------------------
# proto-max-bulk-len is set to its minimum (1 MB) on both servers, so an offset at the limit is cheap to reach.
BIT_KEYS = ["b1", "b2", "b3", "str", "lst", "nokey", "b\x00bin"]
BIT_OFFSETS = ["0", "1", "7", "8", "9", "15", "63", "64", "100", "1000", "-1", "x", "", "1.5", " 1", "#1",
               "9223372036854775807", "8388607", "8388608"]
BIT_RANGES = ["0", "1", "-1", "-2", "2", "5", "-100", "100", "9223372036854775807", "-9223372036854775808", "x", ""]
FIELD_TYPES = ["u1", "u8", "i8", "u16", "i16", "i5", "u63", "i64", "i63", "u64", "i65", "i0", "u", "x8", "U8", "I8"]
FIELD_OFFSETS = ["0", "1", "3", "8", "13", "#0", "#1", "#2", "#-1", "-1", "x", "#x", "100", "8388600"]
FIELD_VALUES = ["0", "1", "-1", "7", "100", "255", "256", "-129", "9223372036854775807", "-9223372036854775808", "x",
                "1.5"]
BIT_VALUES = ["", "a", "foobar", "\xff\xf0\x00", "\x00\x00", "1", "123", "-5", "\xff" * 40, "x" * 33]


def bitfield_operations(rng, read_only):
    operations = []
    for _ in range(rng.randrange(1, 5)):
        kind = "GET" if read_only and rng.random() < 0.9 else rng.choice(["GET", "SET", "INCRBY", "OVERFLOW", "bad"])
        if kind == "OVERFLOW":
            operations += ["OVERFLOW", rng.choice(["WRAP", "SAT", "FAIL", "fail", "nope"])]
        elif kind == "GET":
            operations += ["GET", rng.choice(FIELD_TYPES), rng.choice(FIELD_OFFSETS)]
        elif kind == "bad":
            operations += rng.choice([["GET", "u8"], ["SET", "u8", "0"], ["FOO"]])
        else:
            operations += [kind, rng.choice(FIELD_TYPES), rng.choice(FIELD_OFFSETS), rng.choice(FIELD_VALUES)]
    return operations


def bitmap_family(rng):
    key, other, third = (rng.choice(BIT_KEYS) for _ in range(3))
    offset = rng.choice(BIT_OFFSETS[:-2] if rng.random() < 0.97 else BIT_OFFSETS)
    unit = rng.choice([[], [], ["BYTE"], ["BIT"], ["bit"], ["bad"]])
    start, end = rng.choice(BIT_RANGES), rng.choice(BIT_RANGES)
    return rng.choice([
        ["SETBIT", key, offset, rng.choice(["0", "1", "1", "2", "-1", "x", ""])], ["SETBIT", key, offset, "1"],
        ["GETBIT", key, offset], ["GETBIT", key, rng.choice(["0", "5", "9", "23"])],
        ["BITCOUNT", key], ["BITCOUNT", key, start, end] + unit, ["BITCOUNT", key, start],
        ["BITCOUNT", key, start, end, "BIT", "extra"],
        ["BITPOS", key, rng.choice(["0", "1", "2", "x", "-1"])],
        ["BITPOS", key, rng.choice(["0", "1"]), start], ["BITPOS", key, rng.choice(["0", "1"]), start, end] + unit,
        ["BITPOS", key, "1", start, end, "BIT", "extra"],
        ["BITOP", rng.choice(["AND", "OR", "XOR", "and", "Or"]), key, other, third], ["BITOP", "NOT", key, other],
        ["BITOP", "NOT", key, other, third], ["BITOP", rng.choice(["NAND", "DIFF"]), key, other],
        ["BITOP", "AND", key, other], ["BITOP", "OR", key, "nokey", "nokey2"],
        ["BITFIELD", key] + bitfield_operations(rng, False), ["BITFIELD_RO", key] + bitfield_operations(rng, True),
        ["BITFIELD", key], ["BITFIELD_RO", key, "SET", "u8", "0", "1"],
        ["SET", key, rng.choice(BIT_VALUES)], ["GET", key], ["STRLEN", key], ["APPEND", key, rng.choice(BIT_VALUES)],
        ["SETRANGE", key, rng.choice(["0", "3", "10"]), rng.choice(BIT_VALUES)], ["DEL", key],
        ["RPUSH", "lst", "a"], ["INCR", key], ["EXISTS", key], ["TYPE", key],
    ])


LCS_VALUES = ["ohmytext", "mynewtext", "", "a", "aaaa", "abcabcabc", "cbacba", "\x00ab\x00", "x" * 40,
              "the quick brown fox", "quick brown the fox", "123", "12a3"]


def lcs_family(rng):
    key, other = rng.choice(["k1", "k2", "k3", "lst", "nokey"]), rng.choice(["k1", "k2", "k3", "nokey", "lst"])
    options = rng.sample(["LEN", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "MINMATCHLEN"], rng.randrange(4))
    arguments = []
    for option in options:
        arguments.append(option)
        if option == "MINMATCHLEN" and rng.random() < 0.9:
            arguments.append(rng.choice(["0", "1", "2", "4", "-3", "x", "100"]))
    return rng.choice([
        ["LCS", key, other] + arguments, ["LCS", key, other] + arguments, ["LCS", key, other],
        ["SET", key, rng.choice(LCS_VALUES)], ["RPUSH", "lst", "x"], ["DEL", key], ["LCS", key],
    ])


# --- HyperLogLog ----------------------------------------------------------------------------------------------
# The strings are compared byte for byte (GET): Shoal keeps Redis's sparse and dense formats exactly. A small
# hll-sparse-max-bytes in one setup makes promotions to dense frequent.
HLL_KEYS = ["h1", "h2", "h3", "str", "lst", "nokey"]
CORRUPTIONS = [("0", "HYLL\x02"), ("4", "\x00"), ("16", "\x7f\xff"), ("16", "\xff\xff\xff"), ("3", "X"),
               ("20", "\x00\x00\x00"), ("15", "\x00")]


def hll_family(rng):
    key, other, third = (rng.choice(HLL_KEYS) for _ in range(3))
    many = [f"e{rng.randrange(100000)}" for _ in range(rng.choice([1, 5, 50, 300]))]
    offset, patch = rng.choice(CORRUPTIONS)
    return rng.choice([
        ["PFADD", key] + many, ["PFADD", key] + many, ["PFADD", key], ["PFADD", key, "a", "b", "", "\x00"],
        ["PFCOUNT", key], ["PFCOUNT", key], ["PFCOUNT", key, other], ["PFCOUNT", key, other, third],
        ["PFMERGE", key, other], ["PFMERGE", key, other, third], ["PFMERGE", key],
        ["GET", key], ["GET", key], ["STRLEN", key], ["SET", key, rng.choice(["HYLL", "x", "HYLL\x01\x00\x00\x00", ""])],
        ["SETRANGE", key, offset, patch], ["APPEND", key, "\x00"], ["DEL", key], ["RPUSH", "lst", "a"],
        ["PFDEBUG", rng.choice(["ENCODING", "DECODE", "TODENSE", "nope"]), key], ["COPY", key, other, "REPLACE"],
    ])


FAMILIES = {
    "strings": Family(random_command, [[]], 1500),
    "collections": Family(collections_family, [
        [("CONFIG", "SET", name, str(value)) for name, value in (
            ("hash-max-listpack-entries", entries), ("hash-max-listpack-value", length),
            ("set-max-intset-entries", intset), ("zset-max-listpack-entries", min(entries, 128)),
            ("zset-max-listpack-value", length))]
        for entries, length, intset in ((512, 64, 512), (3, 8, 3))], 1500),
    "bitmap": Family(bitmap_family, [[("CONFIG", "SET", "proto-max-bulk-len", "1mb")]], 1500),
    "lcs": Family(lcs_family, [[]], 800),
    "hyperloglog": Family(hll_family, [[], [("CONFIG", "SET", "hll-sparse-max-bytes", "300")]], 1000),
}
