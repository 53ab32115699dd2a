"""Sorted sets through redis-py, as applications use them: a leaderboard, a rate-limit window, a scheduled-jobs
set polled by score (Celery, Sidekiq), BZPOPMIN workers woken across event loops, and restarts."""
import threading
import time

import pytest
import redis

from conftest import ShoalProcess


def test_leaderboard(shoal):
    r = redis.Redis(port=shoal.port, decode_responses=True)
    r.zadd("board", {f"player{i}": i * 10 for i in range(1000)})
    assert r.object("encoding", "board") == "skiplist" and r.zcard("board") == 1000
    assert r.zrevrange("board", 0, 2, withscores=True) == [("player999", 9990.0), ("player998", 9980.0),
                                                           ("player997", 9970.0)]
    assert r.zrank("board", "player500") == 500 and r.zrevrank("board", "player500") == 499
    assert r.zincrby("board", 100000, "player3") == 100030.0 and r.zrevrank("board", "player3") == 0
    assert r.zcount("board", "(100", 200) == 10
    assert r.zscore("board", "nobody") is None and r.zmscore("board", ["player1", "x"]) == [10.0, None]
    assert r.zadd("board", {"player1": 5}, xx=True, ch=True) == 1 and r.zadd("board", {"new": 1}, xx=True) == 0
    assert r.zadd("board", {"player2": 1}, gt=True, ch=True) == 0  # GT: a lower score changes nothing
    assert r.zremrangebyrank("board", 0, 9) == 10 and r.zcard("board") == 990


def test_rate_limit_window_and_scheduled_jobs(shoal):
    r = redis.Redis(port=shoal.port, decode_responses=True)
    now = 1_000_000
    for offset in range(100):
        r.zadd("window:user1", {f"req{offset}": now - offset * 100})
    assert r.zremrangebyscore("window:user1", "-inf", now - 5000) == 50  # offsets 50..99
    assert r.zcard("window:user1") == 50
    # Sidekiq's scheduled set: jobs by run-at time, taken once due with ZRANGEBYSCORE ... LIMIT 0 1 + ZREM.
    r.zadd("schedule", {"job-late": now + 10, "job-due": now - 10, "job-older": now - 20})
    assert r.zrangebyscore("schedule", "-inf", now, start=0, num=1) == ["job-older"]
    assert r.zrem("schedule", "job-older") == 1
    assert r.zrange("schedule", now, "-inf", byscore=True, desc=True) == ["job-due"]
    assert r.zpopmin("schedule") == [("job-due", float(now - 10))]
    assert r.zrandmember("schedule") == "job-late"


def test_bzpopmin_workers_across_loops_get_each_member_once():
    server = ShoalProcess("--io-threads", "2")
    try:
        members = 500
        got = []
        lock = threading.Lock()
        done = threading.Event()

        def worker():
            client = redis.Redis(port=server.port, decode_responses=True)
            while not done.is_set():
                item = client.bzpopmin(["jobs:high", "jobs:low"], timeout=1)
                if item:
                    with lock:
                        got.append(item[1])
                        if len(got) >= members:
                            done.set()

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        producer = redis.Redis(port=server.port)
        deadline = time.monotonic() + 10
        while producer.info("clients")["blocked_clients"] < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        for index in range(members):
            producer.zadd("jobs:high" if index % 3 else "jobs:low", {f"job-{index}": index})
        assert done.wait(60)
        for t in threads:
            t.join(timeout=10)
        assert sorted(got) == sorted(f"job-{index}" for index in range(members))
    finally:
        server.stop()


def test_sorted_sets_survive_a_restart(start_shoal, tmp_path):
    server = start_shoal("--dir", str(tmp_path), persistent=True)
    r = redis.Redis(port=server.port, decode_responses=True)
    r.zadd("small", {"a": 1.5, "b": float("-inf")})
    r.zadd("large", {f"m{i}": i / 3 for i in range(500)})
    assert r.save()
    server.stop()
    again = start_shoal("--dir", str(tmp_path), persistent=True)
    r = redis.Redis(port=again.port, decode_responses=True)
    assert r.zrange("small", 0, -1, withscores=True) == [("b", float("-inf")), ("a", 1.5)]
    assert r.zrange("large", 0, -1, withscores=True) == [(f"m{i}", i / 3) for i in range(500)]
    assert r.object("encoding", "small") == "listpack" and r.object("encoding", "large") == "skiplist"


def test_sort_by_and_get_patterns(shoal):
    r = redis.Redis(port=shoal.port, decode_responses=True)
    r.rpush("ids", 3, 1, 2)
    r.mset({"weight_1": 30, "weight_2": 10, "weight_3": 20})
    for i, name in ((1, "one"), (2, "two"), (3, "three")):
        r.hset(f"user:{i}", mapping={"name": name})
    assert r.sort("ids") == ["1", "2", "3"] and r.sort("ids", desc=True) == ["3", "2", "1"]
    assert r.sort("ids", by="weight_*") == ["2", "3", "1"]
    assert r.sort("ids", by="weight_*", get=["#", "user:*->name"]) == ["2", "two", "3", "three", "1", "one"]
    # BY nosort keeps a list's own order; DESC and LIMIT apply to it from the end.
    assert r.sort("ids", by="nosort") == ["3", "1", "2"]
    assert r.sort("ids", by="nosort", desc=True, start=1, num=2) == ["1", "3"]
    assert r.sort("ids", by="weight_*", store="sorted") == 3 and r.lrange("sorted", 0, -1) == ["2", "3", "1"]
    r.rpush("words", "pear", "apple", "fig")
    assert r.sort("words", alpha=True) == ["apple", "fig", "pear"]
    with pytest.raises(redis.ResponseError, match="can't be converted into double"):
        r.sort("words")
    assert r.execute_command("SORT_RO", "ids", "LIMIT", "0", "2") == ["1", "2"]
