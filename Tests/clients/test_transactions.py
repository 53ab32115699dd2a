"""Transactions through the clients that send them: redis-py pipelines and WATCH, and Django's own Redis cache."""
import threading

import pytest
import redis


def client(shoal, **kwargs):
    return redis.Redis(host="127.0.0.1", port=shoal.port, socket_timeout=20, **kwargs)


@pytest.mark.parametrize("protocol", [2, 3])
def test_pipelines_with_and_without_transaction(shoal, protocol):
    r = client(shoal, protocol=protocol)
    with r.pipeline(transaction=True) as pipe:
        pipe.set("a", "1").incr("a").get("a").mset({"b": "x", "c": "y"}).mget("a", "b", "c").expire("b", 100)
        assert pipe.execute() == [True, 2, b"2", True, [b"2", b"x", b"y"], True]
    with r.pipeline(transaction=False) as pipe:
        pipe.incr("a").delete("c").exists("c").ttl("b")
        assert pipe.execute() == [3, 1, 0, 100]
    # A runtime error inside EXEC is that command's reply; the rest still ran, nothing rolled back.
    with r.pipeline(transaction=True) as pipe:
        pipe.set("s", "text").incr("s").set("after", "ran")
        results = pipe.execute(raise_on_error=False)
    assert results[0] is True and isinstance(results[1], redis.ResponseError) and results[2] is True
    assert r.get("after") == b"ran"
    # A command refused while queuing aborts the whole transaction.
    with r.pipeline(transaction=True) as pipe:
        pipe.set("never", "1").execute_command("NOSUCHCOMMAND")
        with pytest.raises(redis.ResponseError):
            pipe.execute()
    assert r.get("never") is None


def test_transaction_with_watch_retries_until_it_wins(shoal):
    """redis-py's Redis.transaction(): WATCH, read, MULTI, write, EXEC, retried on WatchError. Eight threads
    doing it on one key end on the exact count."""
    r = client(shoal)
    r.set("counter", 0)
    errors = []

    def worker():
        try:
            mine = client(shoal)
            for _ in range(50):
                def increment(pipe):
                    current = int(pipe.get("counter"))
                    pipe.multi()
                    pipe.set("counter", current + 1)
                mine.transaction(increment, "counter")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert int(r.get("counter")) == 8 * 50


def test_watch_error_when_another_client_writes(shoal):
    r = client(shoal)
    other = client(shoal)
    r.set("k", "1")
    with r.pipeline() as pipe:
        pipe.watch("k")
        other.set("k", "2")
        pipe.multi()
        pipe.set("k", "3")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get("k") == b"2"


def test_django_redis_cache_backend(shoal):
    """Django's built-in django.core.cache.backends.redis.RedisCache, as a Django project configures it."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(CACHES={"default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{shoal.port}/0",
        }})
        django.setup()
    from django.core.cache import caches

    cache = caches["default"]
    cache.clear()
    assert cache.get("missing") is None
    cache.set("greeting", {"hello": "world"}, timeout=100)
    assert cache.get("greeting") == {"hello": "world"}
    assert cache.add("greeting", "other") is False
    assert cache.add("fresh", 1) is True
    assert cache.incr("fresh") == 2 and cache.incr("fresh", 10) == 12
    assert cache.set_many({"a": 1, "b": [2, 3], "c": "x"}, timeout=60) == []
    assert client(shoal).info("commandstats")["cmdstat_exec"]["calls"] >= 1  # set_many ran as MULTI/EXEC
    assert cache.get_many(["a", "b", "c", "nope"]) == {"a": 1, "b": [2, 3], "c": "x"}
    assert cache.touch("a", 500) is True
    assert 490 <= client(shoal).ttl(cache.make_key("a")) <= 500
    assert cache.touch("nope", 10) is False
    cache.delete_many(["a", "b"])
    assert cache.get_many(["a", "b", "c"]) == {"c": "x"}
    assert cache.delete("c") is True
    assert cache.has_key("c") is False
    cache.clear()
    assert cache.get("greeting") is None
