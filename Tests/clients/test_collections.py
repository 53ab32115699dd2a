"""Hashes and sets through redis-py, as applications use them: ASP.NET's distributed-cache layout, job registries
in sets, scans of big collections, multi-key set operations under concurrent writers, and snapshots."""
import subprocess
import threading

import pytest
import redis

from conftest import BINARY


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(shoal, request):
    return redis.Redis(port=shoal.port, protocol=request.param, decode_responses=True)


def test_aspnet_distributed_cache_layout(r):
    # Microsoft.Extensions.Caching.StackExchangeRedis: HSET absexp/sldexp/data, then HMGET to read them back.
    assert r.hset("cache:item", mapping={"absexp": "-1", "sldexp": "1200000000", "data": "payload"}) == 3
    assert r.expire("cache:item", 1200)
    assert r.hmget("cache:item", ["absexp", "sldexp", "data"]) == ["-1", "1200000000", "payload"]
    assert r.hmget("missing", ["absexp", "data"]) == [None, None]
    assert r.object("encoding", "cache:item") == "listpack"
    assert 0 < r.ttl("cache:item") <= 1200


def test_hash_commands(r):
    assert r.hset("h", "a", "1") == 1
    assert r.hsetnx("h", "a", "2") == 0
    assert r.hincrby("h", "a", 41) == 42
    assert float(r.hincrbyfloat("h", "f", "2.5")) == 2.5
    assert r.hgetall("h") == {"a": "42", "f": "2.5"}
    assert r.hkeys("h") == ["a", "f"] and r.hvals("h") == ["42", "2.5"]  # listpack keeps insertion order
    assert r.hstrlen("h", "a") == 2 and r.hlen("h") == 2 and r.hexists("h", "f")
    assert r.hrandfield("h") in ("a", "f")
    assert sorted(r.hrandfield("h", 5)) == ["a", "f"]
    assert len(r.hrandfield("h", -5)) == 5
    assert r.hdel("h", "a", "f", "nope") == 2
    assert r.exists("h") == 0  # the last field takes the key with it
    r.set("s", "string")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.hget("s", "a")
    r.hset("h", "x", "y")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.get("h")
    with pytest.raises(redis.ResponseError, match="hash value is not an integer"):
        r.hincrby("h", "x", 1)


def test_set_commands_and_a_job_registry(r):
    # Sidekiq's registry of processes and Celery's of queues are sets; membership is the common query.
    assert r.sadd("processes", "host1:123", "host2:456", "host1:123") == 2
    assert r.sismember("processes", "host1:123") and r.smismember("processes", ["host2:456", "x"]) == [1, 0]
    assert r.smembers("processes") == {"host1:123", "host2:456"}
    assert r.srem("processes", "host2:456") == 1 and r.scard("processes") == 1
    r.sadd("a", 1, 2, 3)
    r.sadd("b", 2, 3, 4)
    assert r.object("encoding", "a") == "intset"
    assert r.sinter("a", "b") == {"2", "3"} and r.sunion("a", "b") == {"1", "2", "3", "4"}
    assert r.sdiff("a", "b") == {"1"} and r.sintercard(2, ["a", "b"], limit=1) == 1
    assert r.sunionstore("u", "a", "b") == 4 and r.smembers("u") == {"1", "2", "3", "4"}
    assert r.smove("a", "b", "1") and not r.sismember("a", "1") and r.sismember("b", "1")
    popped = r.spop("u", 10)
    assert set(popped) == {"1", "2", "3", "4"} and r.exists("u") == 0
    assert r.sadd("a", "not-a-number") == 1 and r.object("encoding", "a") == "hashtable"


def test_scans_of_big_collections_see_every_element(shoal):
    r = redis.Redis(port=shoal.port, decode_responses=True)
    pipe = r.pipeline(transaction=False)
    for start in range(0, 20000, 1000):
        pipe.hset("big:hash", mapping={f"field:{i}": str(i) for i in range(start, start + 1000)})
        pipe.sadd("big:set", *[f"member:{i}" for i in range(start, start + 1000)])
    pipe.execute()
    assert r.object("encoding", "big:hash") == "hashtable" and r.hlen("big:hash") == 20000
    fields = {}
    for index, (field, value) in enumerate(r.hscan_iter("big:hash", count=100)):
        fields[field] = value
        if index % 100 == 0:
            r.hset("big:hash", f"added:{index}", "x")  # growth during the scan must not hide old fields
    assert all(fields.get(f"field:{i}") == str(i) for i in range(20000))
    members = set(r.sscan_iter("big:set", match="member:1*", count=500))
    assert members == {f"member:{i}" for i in range(20000) if str(i).startswith("1")}
    assert r.memory_usage("big:hash") > 20000 * 20


def test_smove_and_store_are_atomic_under_concurrent_clients(shoal):
    """Two clients move members back and forth; a third checks that the union never loses or doubles one."""
    r = redis.Redis(port=shoal.port, decode_responses=True)
    members = [f"m{i}" for i in range(50)]
    r.sadd("left", *members)
    stop = threading.Event()
    failures = []

    def mover(source, target):
        client = redis.Redis(port=shoal.port, decode_responses=True)
        moves = 0
        while not stop.is_set() and moves < 5000:
            for member in members[:10]:
                client.smove(source, target, member)
                moves += 1

    def checker():
        client = redis.Redis(port=shoal.port, decode_responses=True)
        for _ in range(500):
            pipe = client.pipeline(transaction=True)
            pipe.scard("left").scard("right")
            left, right = pipe.execute()
            if left + right != 50:
                failures.append((left, right))
            if client.sunionstore("together", "left", "right") != 50:
                failures.append("union")
        stop.set()

    threads = [threading.Thread(target=mover, args=("left", "right")),
               threading.Thread(target=mover, args=("right", "left")), threading.Thread(target=checker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures
    assert r.scard("left") + r.scard("right") == 50


def test_collections_survive_a_restart_with_their_encodings(start_shoal, tmp_path):
    server = start_shoal("--dir", str(tmp_path), persistent=True)
    r = redis.Redis(port=server.port, decode_responses=True)
    r.hset("small", mapping={"a": "1", "b": "2"})
    r.hset("large", mapping={f"f{i}": "v" * 10 for i in range(1000)})
    r.sadd("ints", *range(100))
    r.sadd("strings", "x", "y")
    r.expire("small", 1000)
    assert r.save()
    check = subprocess.run([BINARY, "--check-snapshot", str(tmp_path / "dump.shoal")], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0 and "4 keys alive" in check.stdout, check.stdout + check.stderr
    server.stop()
    again = start_shoal("--dir", str(tmp_path), persistent=True)
    r = redis.Redis(port=again.port, decode_responses=True)
    assert r.hgetall("small") == {"a": "1", "b": "2"} and 0 < r.ttl("small") <= 1000
    assert r.hlen("large") == 1000 and r.hget("large", "f999") == "v" * 10
    assert r.smembers("ints") == {str(i) for i in range(100)} and r.smembers("strings") == {"x", "y"}
    assert [r.object("encoding", k) for k in ("small", "large", "ints", "strings")] == [
        "listpack", "hashtable", "intset", "hashtable"]


def test_eviction_counts_a_collection_with_its_real_size(shoal):
    """Under maxmemory, big hashes are evicted as whole keys, and the accounting of their fields keeps
    used_memory at the limit (a collection counted as one small key would let memory grow past it)."""
    r = redis.Redis(port=shoal.port, decode_responses=True)
    r.config_set("maxmemory-policy", "allkeys-lru")
    r.config_set("maxmemory", str(4 * 1024 * 1024))
    for key in range(100):
        r.hset(f"big:{key}", mapping={f"field:{i}": "v" * 20 for i in range(1000)})
    info = r.info("memory") | r.info("stats")
    assert info["evicted_keys"] > 0
    assert info["used_memory"] <= 4 * 1024 * 1024 * 1.05
    assert 10 <= r.dbsize() < 100
    sizes = [r.memory_usage(key) for key in r.scan_iter("big:*")]
    assert all(size > 1000 * 20 for size in sizes)
