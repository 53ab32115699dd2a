"""Lua scripting: EVAL/EVALSHA/SCRIPT and FUNCTION/FCALL against redis-server (recorded cases and random
scripts, byte for byte), real clients (redis-py's Lock, a rate limiter), atomicity under concurrency, the
declared-keys rule, BUSY and SCRIPT KILL, and memory bounds."""
import json
import os
import random
import threading
import time

import pytest
import redis

from test_differential import RawClient, redis_server  # noqa: F401 (fixture)

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "scripting_cases.json")


def encode(args):
    return [a.encode("latin-1") if isinstance(a, str) else a for a in args]


def test_recorded_scripts_match_redis(start_shoal, redis_server):  # noqa: F811
    """863 commands recorded against redis-server 7.0.15 (conversions, sandbox, errors, shebangs, SCRIPT,
    FUNCTION, FCALL), replayed on both, section by section. lock-all: these scripts use keys they don't declare,
    as many scripts written for Redis do."""
    shoal = start_shoal("--lua-undeclared-keys", "lock-all")
    cases = json.load(open(CASES))
    assert len(cases) > 800
    mismatches = []
    for section in sorted({case[0] for case in cases}):
        reference, ours = RawClient(redis_server), RawClient(shoal.port)
        for name, args in cases:
            if name != section:
                continue
            expected, got = reference.call(*encode(args)), ours.call(*encode(args))
            if expected != got:
                mismatches.append((args, expected, got))
    assert not mismatches, "\n".join(f"{a!r}\n  redis: {e!r}\n  shoal: {g!r}" for a, e, g in mismatches[:20])


SCRIPTS = [
    "return redis.call('incrby', KEYS[1], ARGV[1])",
    "return redis.pcall('incrby', KEYS[1], ARGV[1])",
    "local v = redis.call('get', KEYS[1]) if v then return {v, redis.call('strlen', KEYS[1])} end return v",
    "redis.call('rpush', KEYS[1], ARGV[1]) return redis.call('lrange', KEYS[1], 0, -1)",
    "return redis.pcall('hset', KEYS[1], 'f', ARGV[1])",
    "return {tonumber(ARGV[1]) or 'nan', redis.call('type', KEYS[1]).ok}",
    "return cjson.encode({redis.call('exists', KEYS[1]), ARGV[1]})",
    "return redis.pcall('zadd', KEYS[1], ARGV[1], 'm')",
    "return redis.call('zrange', KEYS[1], 0, -1, 'withscores')",
    "return tonumber(ARGV[1]) and tonumber(ARGV[1]) * 1.5 or {err = 'NOTNUM ' .. ARGV[1]}",
    "redis.call('set', KEYS[1], ARGV[1]) return redis.call('getrange', KEYS[1], 0, 3)",
    "return {redis.call('del', KEYS[1]), redis.call('exists', KEYS[1])}",
    "return redis.call('hgetall', KEYS[1])",
    "return {ok = ARGV[1]}",
    "return redis.error_reply(ARGV[1])",
    "return {1, 2, ARGV[1], nil, 5}",
    "return redis.call('lpop', KEYS[1])",
    "local t = {} for i = 1, #ARGV do t[i] = ARGV[i] .. ARGV[i] end return t",
    "return struct.unpack('>I2', struct.pack('>I2', tonumber(ARGV[1]) or 7))",
    "return cmsgpack.unpack(cmsgpack.pack({ARGV[1], 1, 2.5}))",
    "return bit.bxor(tonumber(ARGV[1]) or 3, 255)",
    "return redis.call('setnx', KEYS[1], ARGV[1]) == 1",
    "redis.setresp(3) return redis.call('hgetall', KEYS[1])",
    "return redis.sha1hex(ARGV[1])",
    "error(ARGV[1])",
    "return redis.call('expire', KEYS[1], ARGV[1])",
]
VALUES = ["1", "-5", "abc", "", "3.5", "9223372036854775807", "x y", "10", "1e3", "nan"]


@pytest.mark.parametrize("seed", range(1, 5))
def test_random_scripts_match_redis(shoal, redis_server, seed):  # noqa: F811
    """Random scripts over random keys and values, by EVAL and by EVALSHA, each declaring its keys."""
    rng = random.Random(seed)
    reference, ours = RawClient(redis_server), RawClient(shoal.port)
    for _ in range(400):
        script = rng.choice(SCRIPTS)
        key = rng.choice(["k1", "k2", "k3"])
        args = [rng.choice(VALUES) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            sha = reference.call("SCRIPT", "LOAD", script)
            assert ours.call("SCRIPT", "LOAD", script) == sha
            command = ["EVALSHA", sha[sha.index(b"\r\n") + 2:-2], "1", key] + args
        else:
            command = ["EVAL", script, "1", key] + args
        expected, got = reference.call(*command), ours.call(*command)
        assert got == expected, (command, expected, got)


def test_redis_py_lock(shoal):
    """redis-py's Lock (EVALSHA scripts for release and extend): acquire, contention, extend, release, expiry."""
    client = redis.Redis(port=shoal.port)
    lock = client.lock("resource", timeout=5)
    assert lock.acquire(blocking=False)
    other = client.lock("resource", timeout=5)
    assert not other.acquire(blocking=False)
    assert lock.extend(10)
    assert 5000 < client.pttl("resource") <= 15000
    assert lock.reacquire()
    lock.release()
    assert other.acquire(blocking=False)
    # The release script refuses a token that is not the holder's.
    impostor = client.lock("resource", timeout=5)
    impostor.local.token = b"not-the-owner"
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        impostor.release()
    other.release()
    short = client.lock("brief", timeout=0.2)
    assert short.acquire(blocking=False)
    time.sleep(0.4)
    taker = client.lock("brief", timeout=5)
    assert taker.acquire(blocking=True, blocking_timeout=2)
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        short.extend(1)
    taker.release()
    assert client.script_exists(lock.lua_release.sha) == [True]


RATE_LIMIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 1
"""


def test_sliding_window_rate_limiter(shoal):
    """A rate limiter as frameworks write it: at most `limit` requests per window, exactly, from many threads."""
    client = redis.Redis(port=shoal.port)
    limiter = client.register_script(RATE_LIMIT)
    allowed = []

    def hammer(worker):
        own = redis.Redis(port=shoal.port)
        script = own.register_script(RATE_LIMIT)
        for index in range(100):
            allowed.append(script(keys=["rate:user"], args=[1000, 60000, 50, f"{worker}-{index}"]))

    threads = [threading.Thread(target=hammer, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 50
    assert client.zcard("rate:user") == 50
    # The window moves on: old entries go, new requests pass again.
    assert limiter(keys=["rate:user"], args=[70000, 60000, 50, "later"]) == 1


PAIR = """
local a = redis.call('incr', KEYS[1])
local b = redis.call('incr', KEYS[2])
if a ~= b then return redis.error_reply('TORN ' .. a .. ' ' .. b) end
return a
"""
CHECK = "return redis.call('get', KEYS[1]) == redis.call('get', KEYS[2]) and 1 or 0"


@pytest.mark.parametrize("threads", ["1", "2"])
def test_scripts_are_atomic_under_concurrency(start_shoal, threads):
    """Many clients increment key pairs in one script while others read both: shared pairs and disjoint ones.
    Totals are exact and no reader ever sees one half done."""
    shoal = start_shoal("--io-threads", threads)
    errors = []

    def writer(keys):
        client = redis.Redis(port=shoal.port)
        script = client.register_script(PAIR)
        for _ in range(300):
            try:
                script(keys=keys)
            except redis.ResponseError as error:
                errors.append(str(error))

    def reader():
        client = redis.Redis(port=shoal.port)
        check = client.register_script(CHECK)
        for _ in range(300):
            if check(keys=["shared:a", "shared:b"]) != 1:
                errors.append("torn read")

    workers = [threading.Thread(target=writer, args=(["shared:a", "shared:b"],)) for _ in range(3)]
    workers += [threading.Thread(target=writer, args=([f"own{n}:a", f"own{n}:b"],)) for n in range(3)]
    workers += [threading.Thread(target=reader) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    client = redis.Redis(port=shoal.port)
    assert client.mget("shared:a", "shared:b") == [b"900", b"900"]
    assert all(client.mget(f"own{n}:a", f"own{n}:b") == [b"300", b"300"] for n in range(3))


def test_undeclared_keys_are_refused_or_locked_all(start_shoal):
    default = start_shoal()
    client = redis.Redis(port=default.port)
    client.set("other", "x")
    with pytest.raises(redis.ResponseError, match="not declared in KEYS: 'other'"):
        client.eval("redis.call('set', KEYS[1], 'v') return redis.call('get', 'other')", 1, "mine")
    with pytest.raises(redis.ResponseError, match="not declared"):
        client.eval("return redis.call('keys', '*')", 0)
    assert client.eval("return redis.call('get', KEYS[1])", 1, "other") == b"x"
    lock_all = start_shoal("--lua-undeclared-keys", "lock-all")
    client = redis.Redis(port=lock_all.port)
    # A script that computes its key names, written for Redis: it runs, with every shard held.
    script = "local n = redis.call('incr', 'counter') redis.call('set', 'item:' .. n, ARGV[1]) return n"
    assert [client.eval(script, 0, f"v{n}") for n in range(5)] == [1, 2, 3, 4, 5]
    assert client.get("item:5") == b"v4"
    assert client.config_get("lua-undeclared-keys") == {"lua-undeclared-keys": "lock-all"}


def test_busy_script_and_script_kill(start_shoal):
    shoal = start_shoal("--busy-reply-threshold", "100", "--io-threads", "2")
    outcome = {}

    def run(name, script, *args):
        try:
            outcome[name] = redis.Redis(port=shoal.port).eval(script, *args)
        except redis.ResponseError as error:
            outcome[name] = str(error)

    looping = threading.Thread(target=run, args=("loop", "local i = 0 while true do i = i + 1 end", 1, "busykey"))
    looping.start()
    time.sleep(0.5)
    client = redis.Redis(port=shoal.port)
    # Clients of the script's loop, or reaching its shards, are answered -BUSY; SCRIPT KILL stops it.
    busy = []
    for _ in range(4):
        try:
            redis.Redis(port=shoal.port).get("busykey")
        except redis.exceptions.BusyLoadingError as error:
            busy.append(str(error))
        except redis.ResponseError as error:
            busy.append(str(error))
    assert busy and all("BUSY Redis is busy running a script" in text or "busy running a script" in text for text in busy)
    assert client.script_kill()
    looping.join(10)
    assert "Script killed by user with SCRIPT KILL" in outcome["loop"]
    with pytest.raises(redis.ResponseError, match="NOTBUSY"):
        client.script_kill()
    # A script that wrote can't be killed: SHUTDOWN NOSAVE is the way out, and it works.
    writing = threading.Thread(
        target=run, args=("write", "redis.call('set', KEYS[1], 1) while true do end", 1, "busykey"))
    writing.start()
    time.sleep(0.5)
    with pytest.raises(redis.ResponseError, match="UNKILLABLE"):
        redis.Redis(port=shoal.port).script_kill()
    try:
        redis.Redis(port=shoal.port).shutdown(nosave=True)
    except redis.ConnectionError:
        pass
    writing.join(10)
    assert shoal.proc.wait(timeout=20) == 0


def as_map(flat):
    """A RESP2 map reply (a flat list of keys and values) as a dict (redis-py already parses some)."""
    return flat if isinstance(flat, dict) else dict(zip(flat[::2], flat[1::2]))


def test_functions_load_call_list_dump_restore(shoal):
    client = redis.Redis(port=shoal.port)
    library = """#!lua name=counters
local function bump(keys, args) return redis.call('incrby', keys[1], args[1]) end
redis.register_function('bump', bump)
redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end,
    flags={'no-writes'}}
"""
    assert client.function_load(library) == b"counters"
    with pytest.raises(redis.ResponseError, match="Library 'counters' already exists"):
        client.function_load(library)
    assert client.function_load(library, replace=True) == b"counters"
    assert client.fcall("bump", 1, "c", 5) == 5
    assert client.fcall_ro("peek", 1, "c") == b"5"
    with pytest.raises(redis.ResponseError, match="write flag using \\*_ro"):
        client.fcall_ro("bump", 1, "c", 1)
    library_info = as_map(client.function_list()[0])
    assert library_info[b"library_name"] == b"counters"
    assert {as_map(f)[b"name"] for f in library_info[b"functions"]} == {b"bump", b"peek"}
    payload = client.function_dump()
    client.function_flush()
    with pytest.raises(redis.ResponseError, match="Function not found"):
        client.fcall("bump", 1, "c", 1)
    assert client.function_restore(payload) is True
    assert client.fcall("BUMP", 1, "c", 1) == 6
    with pytest.raises(redis.ResponseError, match="payload version or checksum"):
        client.function_restore(payload[:-1] + b"x")
    stats = as_map(client.function_stats())
    assert stats[b"running_script"] is None
    assert as_map(as_map(stats[b"engines"])[b"LUA"]) == {b"libraries_count": 1, b"functions_count": 2}
    assert client.function_delete("counters") is True


def test_scripts_inside_multi_and_limits(start_shoal):
    shoal = start_shoal("--lua-memory-limit", "20mb")
    client = redis.Redis(port=shoal.port)
    pipe = client.pipeline(transaction=True)
    pipe.set("m", 1)
    pipe.eval("return redis.call('incr', KEYS[1])", 1, "m")
    pipe.get("m")
    assert pipe.execute() == [True, 2, b"2"]
    # A runaway allocation is stopped at lua-memory-limit; the engine and the server go on.
    with pytest.raises(redis.ResponseError, match="not enough memory"):
        client.eval("local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 64) .. i end return #t", 0)
    assert client.eval("return 'still here'", 0) == b"still here"
    # Over maxmemory, a script's writes are refused as Redis refuses them; reads still work.
    client.set("big", "x" * 100000)
    client.config_set("maxmemory", "1")
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.eval("return redis.call('set', KEYS[1], 'y')", 1, "m")
    assert client.eval("return redis.call('get', KEYS[1])", 1, "m") == b"2"
    client.config_set("maxmemory", "0")
