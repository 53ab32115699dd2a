"""Moving in from Redis: DUMP/RESTORE between redis-server 7.0 and Shoal in both directions, and
`--import-rdb` of dump.rdb files written by redis-server itself (RDB 10) and by our own writer of Redis 6's
legacy encodings (RDB 9: ziplists, intsets, zipmaps, quicklists), checked against what redis-server 7.0 loads
from the same file."""
import os
import shutil
import subprocess
import time

import pytest
import redis

from conftest import BINARY, ShoalProcess
from test_differential import REDIS_SERVER, free_port, redis_server, wait_for_port  # noqa: F401
import rdb9


def crc64(data):
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x95AC9329AC4BC9B5 if crc & 1 else crc >> 1
    return crc


def payload(body, version=10):
    framed = body + version.to_bytes(2, "little")
    return framed + crc64(framed).to_bytes(8, "little")


def populate(r):
    """Keys of every type in every encoding redis-server 7.0 writes, in three databases, with expiries."""
    r.set("str", "hello")
    r.set("int", "12345")
    r.set("negative", "-70000")
    r.set("big-int", "12345678901234")
    r.set("compressible", "x" * 500)  # LZF in DUMP and dump.rdb
    r.set("binary", b"\x00\xff\r\n" * 10)
    r.rpush("list-small", "a", "1", "-5", "")
    r.rpush("list-big", *[f"element-{i}" for i in range(2000)])  # several quicklist nodes
    r.rpush("list-long-elements", *["y" * 9000, "z"])
    r.sadd("intset", 1, 2, 3, -7, 2**40)
    r.sadd("set-small", "a", "b", "c")
    r.sadd("set-big", *range(1000))
    r.hset("hash-small", mapping={"f": "v", "n": "1", "": "empty"})
    r.hset("hash-big", mapping={f"field-{i}": "v" * (i % 100) for i in range(600)})
    r.zadd("zset-small", {"a": 1.5, "b": -2, "c": float("inf"), "d": 0})
    r.zadd("zset-big", {f"m{i}": i / 3 for i in range(500)})
    r.pfadd("hll", *[f"e{i}" for i in range(100)])
    r.pfadd("hll-dense", *[f"e{i}" for i in range(5000)])
    r.set("ttl", "v", ex=1000)
    r.set("ttl-ms", "v", px=123456789)
    r.select(3)
    r.set("db3", "three")
    r.hset("db3-hash", "f", "v")
    r.select(15)
    r.rpush("db15", "x")
    r.select(0)


def contents(r, key):
    kind = r.type(key).decode()
    read = {"string": lambda: r.get(key), "list": lambda: r.lrange(key, 0, -1),
            "set": lambda: sorted(r.smembers(key)), "hash": lambda: sorted(r.hgetall(key).items()),
            "zset": lambda: r.zrange(key, 0, -1, withscores=True)}[kind]
    return kind, read()


def everything(r, databases=16):
    """{(db, key): (type, contents, has-ttl)} over every database."""
    found = {}
    for db in range(databases):
        c = redis.Redis(port=r.connection_pool.connection_kwargs["port"], db=db)
        for key in c.keys():
            found[(db, key)] = contents(c, key) + (c.pttl(key) > 0,)
    return found


def test_dump_from_redis_restores_into_shoal_and_back(shoal, redis_server):
    theirs, ours = redis.Redis(port=redis_server), redis.Redis(port=shoal.port)
    populate(theirs)
    keys = theirs.keys()
    assert len(keys) >= 18
    for key in keys:
        ours.restore(key, 0, theirs.dump(key))
        assert contents(ours, key) == contents(theirs, key), key
        theirs.restore(key + b":back", 0, ours.dump(key))
        assert contents(theirs, key + b":back") == contents(theirs, key), key
    # An HLL restored from Redis counts the same (its string is the same bytes).
    assert ours.pfcount("hll-dense") == theirs.pfcount("hll-dense")
    assert ours.get("hll") == theirs.get("hll")


def test_restore_options_match_redis(shoal, redis_server):
    theirs, ours = redis.Redis(port=redis_server), redis.Redis(port=shoal.port)
    for r in (theirs, ours):
        r.set("src", "value")
        dumped = theirs.dump("src") if r is ours else r.dump("src")
        r.restore("ttl", 5000, dumped)
        assert 4000 < r.pttl("ttl") <= 5000
        r.restore("abs", int(time.time() * 1000) + 60_000, dumped, absttl=True)
        assert 50_000 < r.pttl("abs") <= 60_000
        r.restore("past", int(time.time() * 1000) - 1000, dumped, absttl=True)
        assert r.exists("past") == 0
        r.restore("src", 0, dumped, replace=True, idletime=1000)
        assert r.object("idletime", "src") >= 1000
        with pytest.raises(redis.ResponseError, match="BUSYKEY"):
            r.restore("src", 0, dumped)
        r.set("victim", "x")
        r.restore("victim", int(time.time() * 1000) - 1000, dumped, replace=True, absttl=True)
        assert r.exists("victim") == 0  # REPLACE with a deadline already past: deleted, nothing created


def test_restore_errors_match_redis(shoal, redis_server):
    theirs, ours = redis.Redis(port=redis_server), redis.Redis(port=shoal.port)
    theirs.set("s", "hello")
    good = theirs.dump("s")
    cases = [
        ("k", "0", b""), ("k", "0", b"garbage"), ("k", "0", good[:-1] + bytes([good[-1] ^ 1])),
        ("k", "0", good[:3] + b"X" + good[4:]), ("k", "-1", good), ("k", "x", good),
        ("k", "0", good, "IDLETIME", "-1"), ("k", "0", good, "FREQ", "256"), ("k", "0", good, "FREQ", "x"),
        ("k", "0", good, "IDLETIME", "1", "FREQ", "1"), ("k", "0", good, "NOPE"), ("k", "0", good, "REPLACE", "ABSTTL"),
        ("k", "0", payload(b"\x00\x05hel")),  # a string shorter than it says
        ("k", "0", payload(b"\x63\x00")),  # an unknown type
        ("k", "0", payload(b"\x00\x05hello", version=99)),  # from the future
        ("k", "0", payload(b"\x02\x00")),  # an empty set
        ("k", "0", payload(b"\x00\x05hello\x00")),  # bytes after the value
        ("k", "0", payload(b"\x0b" + b"\x09\x02\x00\x00\x00\x01\x00\x00\x00")),  # an intset cut short
    ]
    for case in cases:
        replies = []
        for r in (theirs, ours):
            r.delete("k")
            try:
                replies.append(("ok", r.execute_command("RESTORE", *case)))
            except redis.ResponseError as error:
                replies.append(("error", str(error)))
        assert replies[0] == replies[1], case
    assert ours.execute_command("DUMP", "missing") is None


def start_redis_with(directory, dbfilename="dump.rdb"):
    port = free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(directory), "--dbfilename", dbfilename],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return proc, port


def stop(proc):
    proc.terminate()
    proc.wait(timeout=20)


def test_import_rdb_written_by_redis(tmp_path):
    source = tmp_path / "redis"
    source.mkdir()
    proc, port = start_redis_with(source)
    try:
        r = redis.Redis(port=port)
        populate(r)
        r.set("expired-by-import", "x", px=50)
        r.function_load("#!lua name=mylib\nredis.register_function('hello', function(k, a) return 'hi ' .. a[1] end)")
        time.sleep(0.1)
        r.save()
        expected = everything(r)
    finally:
        stop(proc)
    rdb = source / "dump.rdb"
    assert rdb.read_bytes()[:9] == b"REDIS0010"
    target = tmp_path / "shoal"
    target.mkdir()
    shoal = ShoalProcess("--import-rdb", str(rdb), "--dir", str(target), persistent=True)
    try:
        log = "".join(shoal.log)
        assert "Imported" in log and f"{len(expected)} keys" in log, log
        ours = redis.Redis(port=shoal.port)
        assert everything(ours) == expected
        assert ours.fcall("hello", 0, "you") == b"hi you"
        assert ours.pfcount("hll-dense") > 4900  # caches the count in the string, as Redis does
        after = everything(ours)
    finally:
        shoal.stop()
    # Saved as dump.shoal at once: a restart loads that and doesn't import again.
    assert (target / "dump.shoal").exists()
    again = ShoalProcess("--import-rdb", str(rdb), "--dir", str(target), persistent=True)
    try:
        assert "import-rdb" in "".join(again.log) and "skipped" in "".join(again.log)
        assert everything(redis.Redis(port=again.port)) == after
    finally:
        again.stop()


def test_import_rdb_version_9_legacy_encodings(tmp_path):
    """A Redis 6-era file with every legacy encoding: redis-server 7.0 and Shoal must load the same data."""
    path = tmp_path / "legacy.rdb"
    path.write_bytes(rdb9.legacy_file())
    proc, port = start_redis_with(tmp_path, "legacy.rdb")
    try:
        expected = everything(redis.Redis(port=port))
    finally:
        stop(proc)
    assert len(expected) == len(rdb9.LEGACY_KEYS)
    target = tmp_path / "shoal"
    target.mkdir()
    shoal = ShoalProcess("--import-rdb", str(path), "--dir", str(target), "--save", "")
    try:
        assert everything(redis.Redis(port=shoal.port)) == expected
    finally:
        shoal.stop()


@pytest.mark.parametrize("damage", ["checksum", "truncated", "stream"])
def test_import_rdb_refuses_what_it_cannot_take(tmp_path, damage):
    source = tmp_path / "redis"
    source.mkdir()
    proc, port = start_redis_with(source)
    try:
        r = redis.Redis(port=port)
        r.set("a", "1")
        if damage == "stream":
            r.xadd("events", {"f": "v"})
        r.save()
    finally:
        stop(proc)
    data = bytearray((source / "dump.rdb").read_bytes())
    if damage == "checksum":
        data[-1] ^= 0xFF
    elif damage == "truncated":
        data = data[:len(data) // 2]
    (source / "dump.rdb").write_bytes(bytes(data))
    target = tmp_path / "shoal"
    target.mkdir()
    result = subprocess.run([BINARY, "--port", "0", "--bind", "127.0.0.1", "--dir", str(target),
                             "--import-rdb", str(source / "dump.rdb")], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    message = {"checksum": "checksum mismatch", "truncated": "truncated", "stream": "key 'events'"}[damage]
    assert message in result.stdout + result.stderr, result.stdout + result.stderr
    assert not (target / "dump.shoal").exists()
