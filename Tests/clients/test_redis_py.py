"""Shoal through redis-py, the client most Python users run."""
import threading

import pytest
import redis


def client(shoal, **kwargs):
    return redis.Redis(host="127.0.0.1", port=shoal.port, socket_timeout=20, **kwargs)


@pytest.mark.parametrize("protocol", [2, 3])
def test_strings_keys_and_expiry(shoal, protocol):
    r = client(shoal, protocol=protocol)
    assert r.ping()
    assert r.set("greeting", "hello world")
    assert r.get("greeting") == b"hello world"
    assert r.get("missing") is None
    assert r.set("greeting", "x", nx=True) is None
    assert r.incr("n") == 1 and r.incrby("n", 9) == 10 and r.decr("n") == 9
    assert r.incrbyfloat("f", 1.5) == 1.5
    assert r.mset({"a": "1", "b": "2"})
    assert r.mget("a", "b", "c") == [b"1", b"2", None]
    assert r.append("a", "23") == 3
    assert r.getrange("a", 0, 1) == b"12"
    assert r.set("t", "v", ex=100) and r.ttl("t") == 100
    assert r.expire("a", 50) and 0 < r.pttl("a") <= 50000
    assert r.persist("a") and r.ttl("a") == -1
    assert r.getdel("b") == b"2" and r.exists("b") == 0
    assert r.rename("a", "z") and r.get("z") == b"123"
    assert r.type("z") == b"string"
    assert r.delete("z", "t", "nope") == 2
    assert r.dbsize() == 3  # greeting, n, f


def test_binary_keys_and_values(shoal):
    r = client(shoal)
    key = bytes(range(256))
    value = bytes(range(255, -1, -1)) * 100
    assert r.set(key, value)
    assert r.get(key) == value
    assert r.strlen(key) == len(value)


def test_errors_match_redis(shoal):
    r = client(shoal)
    r.set("s", "abc")
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        r.incr("s")
    with pytest.raises(redis.ResponseError, match="unknown command 'NOPE'"):
        r.execute_command("NOPE")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get' command"):
        r.execute_command("GET")


def test_pipeline_and_scan(shoal):
    r = client(shoal)
    with r.pipeline(transaction=False) as pipe:
        for i in range(1000):
            pipe.set(f"key:{i:04d}", i)
        results = pipe.execute()
    assert results == [True] * 1000
    assert len(set(r.scan_iter(match="key:*", count=100))) == 1000
    assert len(r.keys("key:00*")) == 100


def test_info_config_and_client(shoal):
    r = client(shoal)
    info = r.info()
    assert info["redis_version"] and info["connected_clients"] >= 1
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert r.config_set("maxmemory", "10mb")
    assert r.config_get("maxmemory")["maxmemory"] == "10485760"
    assert r.client_setname("py")
    assert r.client_getname() == "py"
    assert any(c["name"] == "py" for c in r.client_list())
    assert r.time()[0] > 0


def test_fifty_threads_incrby_exact_sum(shoal):
    def work(index, totals):
        r = client(shoal)
        total = 0
        for i in range(200):
            amount = (index * 31 + i) % 17 - 5
            r.incrby("counter", amount)
            total += amount
        totals[index] = total

    totals = [0] * 50
    threads = [threading.Thread(target=work, args=(i, totals)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert int(client(shoal).get("counter")) == sum(totals)


def test_requirepass(start_shoal):
    server = start_shoal("--requirepass", "pw")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=server.port, password="wrong").ping()
    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        redis.Redis(port=server.port, protocol=2).get("x")
    # A RESP3 client without a password opens with HELLO 3, refused exactly as Redis 7.0 refuses it.
    with pytest.raises(redis.AuthenticationError, match="HELLO must be called with the client already authenticated"):
        redis.Redis(port=server.port, protocol=3).get("x")
    r = redis.Redis(port=server.port, password="pw")
    assert r.set("x", "1") and r.get("x") == b"1"
    r3 = redis.Redis(port=server.port, password="pw", protocol=3)
    assert r3.get("x") == b"1"
