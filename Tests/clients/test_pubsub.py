"""Pub/sub, keyspace notifications and CLIENT TRACKING: replies against redis-server, delivery across event
loops, the pubsub output buffer limit, and redis-py's PubSub."""
import os
import random
import socket
import threading
import time

import pytest
import redis

from conftest import ShoalProcess
from test_differential import (RawClient, random_collection_command, random_command, random_geo_command,  # noqa: F401
                               random_sort_command, redis_server)


class Subscriber(RawClient):
    """A RawClient that also reads messages nobody asked for."""

    def message(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            return self._reply()
        finally:
            self.sock.settimeout(20)

    def send(self, *args):
        encoded = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in encoded))

    def no_message(self, wait=0.3):
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
            self.buffer += data
            return not data and not self.buffer
        except socket.timeout:
            return not self.buffer
        finally:
            self.sock.settimeout(20)


# --- Replies, against redis-server ------------------------------------------------------------------------------

SCRIPT = [
    ["PUBLISH", "news", "nobody"], ["PUBSUB", "NUMPAT"], ["PUBSUB", "CHANNELS"], ["PUBSUB", "NUMSUB", "news", "x"],
    ["SUBSCRIBE", "news", "sport", "news"], ["PING"], ["PING", "hi"], ["GET", "k"], ["ECHO", "e"],
    ["PSUBSCRIBE", "n*", "s?ort", "[ab]*"], ["SSUBSCRIBE", "shard1"], ["UNSUBSCRIBE", "news", "never"],
    ["PUNSUBSCRIBE", "n*"], ["SUNSUBSCRIBE"], ["SUNSUBSCRIBE"], ["UNSUBSCRIBE"], ["PUNSUBSCRIBE"],
    ["UNSUBSCRIBE"], ["PUNSUBSCRIBE", "x"], ["GET", "k"], ["PING"], ["SUBSCRIBE"], ["PSUBSCRIBE"], ["PUBLISH", "a"],
    ["PUBSUB"], ["PUBSUB", "NOPE"], ["PUBSUB", "NUMPAT", "x"], ["SPUBLISH", "shard1", "m"],
    ["PUBSUB", "SHARDCHANNELS"], ["PUBSUB", "SHARDNUMSUB", "shard1"], ["SUBSCRIBE", "again"], ["RESET"], ["GET", "k"],
    ["MULTI"], ["SUBSCRIBE", "inmulti"], ["EXEC"], ["UNSUBSCRIBE"], ["MULTI"], ["SSUBSCRIBE", "s"], ["EXEC"],
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_pubsub_command_replies_match_redis(shoal, redis_server, protocol):
    ours, theirs = RawClient(shoal.port), RawClient(redis_server)
    for client in (ours, theirs):
        if protocol == 3:
            client.call("HELLO", "3")
    for step, command in enumerate(SCRIPT):
        expected = theirs.call(*command)
        got = ours.call(*command)
        if command[0] == "UNSUBSCRIBE" and len(command) == 1 or command[0] == "PUNSUBSCRIBE" and len(command) == 1:
            # Unsubscribing from everything walks each server's own table: the order of the replies may differ.
            expected, got = sorted(split_replies(theirs, expected)), sorted(split_replies(ours, got))
        assert got == expected, f"step {step}: {command}"


def split_replies(client, first):
    """The first reply plus any further confirmations already sent (UNSUBSCRIBE answers once per channel)."""
    replies = [first]
    client.sock.settimeout(0.2)
    try:
        while True:
            replies.append(client._reply())
    except (socket.timeout, ConnectionError):
        pass
    finally:
        client.sock.settimeout(20)
    return replies


@pytest.mark.parametrize("protocol", [2, 3])
def test_messages_match_redis_byte_for_byte(shoal, redis_server, protocol):
    streams = {}
    for name, port in (("shoal", shoal.port), ("redis", redis_server)):
        subscriber = Subscriber(port)
        if protocol == 3:
            subscriber.call("HELLO", "3")
        subscriber.call("SUBSCRIBE", "chan")
        subscriber.call("PSUBSCRIBE", "ch*")
        subscriber.call("SSUBSCRIBE", "chan")
        publisher = RawClient(port)
        counts = [publisher.call("PUBLISH", "chan", "hello"), publisher.call("PUBLISH", "chat", b"bin\x00\r\n"),
                  publisher.call("SPUBLISH", "chan", "sharded"), publisher.call("PUBLISH", "other", "x")]
        messages = [subscriber.message() for _ in range(4)]
        streams[name] = (counts, messages)
    assert streams["shoal"] == streams["redis"]


# --- Keyspace notifications, against redis-server ---------------------------------------------------------------

def events_until(subscriber, sentinel):
    events = []
    while True:
        message = subscriber.message()
        if sentinel in message:
            return events
        events.append(message)


@pytest.mark.parametrize("seed", range(1, 4))
def test_keyspace_notifications_match_redis(shoal, redis_server, seed):
    """The same random commands on both servers with notifications on: the same events, in the same order.
    `x` (expired) is left out: Shoal's reads don't reclaim expired keys (docs/COMPATIBILITY.md)."""
    rng = random.Random(seed)
    sides = []
    for port in (redis_server, shoal.port):
        client = RawClient(port)
        client.call("FLUSHALL")
        assert client.call("CONFIG", "SET", "notify-keyspace-events", "KEg$lshzdtnm") == b"+OK\r\n"
        subscriber = Subscriber(port)
        subscriber.call("PSUBSCRIBE", "__key*__:*")
        subscriber.call("SUBSCRIBE", "sync")
        sides.append((client, subscriber, RawClient(port)))
    history = []
    for step in range(600):
        draw = rng.random()
        command = (random_command(rng) if draw < 0.45 else random_collection_command(rng) if draw < 0.85
                   else random_geo_command(rng) if draw < 0.93 else random_sort_command(rng))
        if command[0] in ("SWAPDB",):  # SWAPDB's events are none on both; it only reshuffles what follows
            continue
        history.append(" ".join(command))
        replies = [client.call(*command) for client, _, _ in sides]
        # From another connection: the command's client may be inside MULTI.
        for _, _, syncer in sides:
            syncer.call("PUBLISH", "sync", str(step))
        expected, got = (events_until(subscriber, b"$%d\r\n%d\r\n" % (len(str(step)), step))
                         for _, subscriber, _ in sides)
        if command[0] in ("SPOP", "SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER"):
            continue  # random picks: the events name the same key but the replies differ
        assert got == expected, f"step {step}, seed {seed}: {command} -> {replies}; last:\n" + "\n".join(history[-10:])
    for _, _, syncer in sides:
        syncer.call("CONFIG", "SET", "notify-keyspace-events", "")


def test_notify_keyspace_events_config_round_trips_as_redis(shoal, redis_server):
    ours, theirs = RawClient(shoal.port), RawClient(redis_server)
    for value in ["KEA", "KEAn", "KEAmn", "Kl", "Egx", "EK", "nd", "Am", "g$lshzxetd", "g$lshzxe", "", "KEx", "Q"]:
        assert ours.call("CONFIG", "SET", "notify-keyspace-events", value) == theirs.call(
            "CONFIG", "SET", "notify-keyspace-events", value), value
        assert ours.call("CONFIG", "GET", "notify-keyspace-events") == theirs.call(
            "CONFIG", "GET", "notify-keyspace-events"), value


def test_expired_and_evicted_events(start_shoal):
    server = start_shoal("--notify-keyspace-events", "Exe", "--hz", "100")
    subscriber = Subscriber(server.port)
    subscriber.call("PSUBSCRIBE", "__keyevent@0__:*")
    client = RawClient(server.port)
    client.call("SET", "short", "v", "PX", "50")
    message = subscriber.message(timeout=5)  # the active cycle reclaims it
    assert message == b"*4\r\n$8\r\npmessage\r\n$16\r\n__keyevent@0__:*\r\n$22\r\n__keyevent@0__:expired\r\n$5\r\nshort\r\n"
    client.call("SET", "lazy", "v", "PX", "30")
    time.sleep(0.05)
    client.call("SET", "lazy", "w")  # reclaimed by this write, or by the active cycle just before
    assert subscriber.message() == b"*4\r\n$8\r\npmessage\r\n$16\r\n__keyevent@0__:*\r\n$22\r\n__keyevent@0__:expired\r\n$4\r\nlazy\r\n"
    client.call("CONFIG", "SET", "maxmemory-policy", "allkeys-random")
    for index in range(2000):
        client.call("SET", f"fill:{index}", "x" * 100)
    info = client.call("INFO", "memory").decode()
    used_memory = int(info.split("used_memory:")[1].split("\r\n")[0])
    client.call("CONFIG", "SET", "maxmemory", str(used_memory - 50_000))
    client.call("SET", "trigger", "x")
    events = []
    for _ in range(5):
        events.append(subscriber.message())
    assert all(b"__keyevent@0__:evicted" in event for event in events), events


# --- Delivery across loops --------------------------------------------------------------------------------------

def test_every_message_arrives_once_in_publish_order_across_loops(start_shoal):
    server = start_shoal("--io-threads", "2")
    subscribers = []
    for index in range(6):
        subscriber = Subscriber(server.port)
        subscriber.call("SUBSCRIBE", "load")
        if index % 2:
            subscriber.call("PSUBSCRIBE", "lo*")
        subscribers.append(subscriber)
    publishers, per_publisher = 6, 500
    counts = []

    def publish(number):
        client = RawClient(server.port)
        for sequence in range(per_publisher):
            counts.append(client.call("PUBLISH", "load", f"{number}:{sequence}"))

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(publishers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(count == b":9\r\n" for count in counts)  # 6 channel subscribers + 3 pattern subscribers
    for index, subscriber in enumerate(subscribers):
        expected = publishers * per_publisher * (2 if index % 2 else 1)
        seen = {n: [] for n in range(publishers)}
        for _ in range(expected):
            message = subscriber.message()
            payload = message.rsplit(b"\r\n", 2)[-2].decode()
            number, sequence = payload.split(":")
            if message.startswith(b"*3"):  # the channel copy; the pattern copy keeps its own order
                seen[int(number)].append(int(sequence))
        for number in range(publishers):
            assert seen[number] == list(range(per_publisher))
        assert subscriber.no_message()


def test_a_subscriber_that_does_not_read_is_disconnected_and_others_are_not(start_shoal):
    server = start_shoal("--client-output-buffer-limit", "pubsub 1mb 256kb 1", "--io-threads", "2")
    slow = socket.create_connection(("127.0.0.1", server.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"SUBSCRIBE big\r\n")
    fast = Subscriber(server.port)
    fast.call("SUBSCRIBE", "big")
    publisher = RawClient(server.port)

    def rss():
        info = publisher.call("INFO", "memory").decode()
        return int(info.split("used_memory_rss:")[1].split("\r\n")[0])

    rss_before = rss()
    payload = "p" * 16384
    for index in range(400):  # 6.5 MB, far past the slow subscriber's hard limit
        publisher.call("PUBLISH", "big", payload)
        fast.message()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if b"sub=1" not in publisher.call("CLIENT", "LIST") or publisher.call("PUBSUB", "NUMSUB", "big").endswith(b":1\r\n"):
            break
        time.sleep(0.1)
    assert publisher.call("PUBSUB", "NUMSUB", "big").endswith(b":1\r\n")
    slow.settimeout(10)
    try:
        while slow.recv(1 << 20):
            pass  # what was sent before the limit, then the end of the stream
    except ConnectionResetError:
        pass
    slow.close()
    assert publisher.call("PUBLISH", "big", "after") == b":1\r\n"
    # What the slow subscriber could not take was dropped with it, not kept: the server stayed small.
    assert rss() - rss_before < 32 * 1024 * 1024
    assert fast.message().endswith(b"$5\r\nafter\r\n")


def test_info_and_client_list_show_subscriptions(shoal):
    subscriber = Subscriber(shoal.port)
    subscriber.call("SUBSCRIBE", "a", "b")
    # Two channels, two confirmations: read the second, or the PSUBSCRIBE's reply is not yet in when CLIENT LIST
    # runs (seen once in CI: psub=0).
    assert subscriber.message().startswith(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb")
    subscriber.call("PSUBSCRIBE", "p*")
    other = RawClient(shoal.port)
    listing = other.call("CLIENT", "LIST").decode()
    line = next(line for line in listing.splitlines() if "sub=2" in line)
    assert "psub=1" in line and "flags=P" in line
    stats = other.call("INFO", "stats").decode()
    assert "pubsub_channels:2" in stats and "pubsub_patterns:1" in stats


# --- redis-py ---------------------------------------------------------------------------------------------------

def test_redis_py_pubsub_with_patterns(shoal):
    client = redis.Redis(port=shoal.port)
    pubsub = client.pubsub()
    pubsub.subscribe("orders")
    pubsub.psubscribe("events.*")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    assert pubsub.get_message(timeout=2)["type"] == "psubscribe"
    assert client.publish("orders", "o1") == 1
    assert client.publish("events.created", "e1") == 1
    received = [pubsub.get_message(timeout=2) for _ in range(2)]
    assert received[0]["type"] == "message" and received[0]["data"] == b"o1"
    assert received[1]["type"] == "pmessage" and received[1]["pattern"] == b"events.*"
    assert received[1]["channel"] == b"events.created"
    assert client.pubsub_numsub("orders") == [(b"orders", 1)]
    assert client.pubsub_numpat() == 1
    pubsub.close()


def test_redis_py_resp3_push_messages(shoal):
    client = redis.Redis(port=shoal.port, protocol=3)
    pubsub = client.pubsub()
    pubsub.subscribe("r3")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    client.publish("r3", "hello")
    message = pubsub.get_message(timeout=2)
    assert message["type"] == "message" and message["data"] == b"hello"
    # RESP3 clients may run any command while subscribed.
    pubsub.execute_command("SET", "k", "v")
    pubsub.close()


# --- CLIENT TRACKING --------------------------------------------------------------------------------------------

def test_tracking_invalidation_from_every_loop(start_shoal):
    """A RESP3 client reads keys; writers on both loops change them; each invalidation arrives, and before the
    reply to any command the tracking client sends after the writer got its reply."""
    server = start_shoal("--io-threads", "2")
    tracker = Subscriber(server.port)
    tracker.call("HELLO", "3")
    assert tracker.call("CLIENT", "TRACKING", "ON") == b"+OK\r\n"
    writers = [RawClient(server.port) for _ in range(8)]
    for round_ in range(50):
        key = f"key:{round_}"
        tracker.call("GET", key)
        writer = writers[round_ % len(writers)]
        assert writer.call("SET", key, "v") == b"+OK\r\n"
        tracker.send("PING")
        assert tracker.message() == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$%d\r\n%s\r\n" % (len(key), key.encode())
        assert tracker.message() == b"+PONG\r\n"
        # Invalidated once: the key is forgotten until read again.
        writer.call("SET", key, "w")
        tracker.send("PING")
        assert tracker.message() == b"+PONG\r\n"


def test_tracking_modes_and_errors_match_redis(shoal, redis_server):
    script = [
        ["CLIENT", "TRACKING", "ON", "PREFIX", "a"], ["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"],
        ["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"], ["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"],
        ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ab", "PREFIX", "a"], ["CLIENT", "TRACKING", "MAYBE"],
        ["CLIENT", "TRACKING", "ON", "NOSUCH"], ["CLIENT", "CACHING", "YES"], ["CLIENT", "GETREDIR"],
        ["CLIENT", "TRACKINGINFO"], ["CLIENT", "TRACKING", "ON", "OPTIN", "NOLOOP"], ["CLIENT", "TRACKINGINFO"],
        ["CLIENT", "CACHING", "NO"], ["CLIENT", "CACHING", "YES"], ["CLIENT", "TRACKINGINFO"], ["GET", "x"],
        ["CLIENT", "TRACKINGINFO"], ["CLIENT", "TRACKING", "ON", "OPTOUT"], ["CLIENT", "TRACKING", "ON", "BCAST"],
        ["CLIENT", "GETREDIR"], ["CLIENT", "TRACKING", "OFF"], ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "x:",
                                                               "PREFIX", "y:"],
        ["CLIENT", "TRACKINGINFO"], ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "x"],
        ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "y:"], ["CLIENT", "TRACKING", "ON", "BCAST"],
        ["CLIENT", "TRACKINGINFO"], ["CLIENT", "TRACKING", "OFF"],
        ["CLIENT", "CACHING", "MAYBE"], ["CLIENT", "TRACKING"], ["CLIENT", "CACHING"],
    ]
    for protocol in (2, 3):
        ours, theirs = RawClient(shoal.port), RawClient(redis_server)
        if protocol == 3:
            ours.call("HELLO", "3")
            theirs.call("HELLO", "3")
        for command in script:
            assert ours.call(*command) == theirs.call(*command), (protocol, command)


def test_tracking_bcast_optin_noloop_redirect_and_flush(shoal):
    tracker = Subscriber(shoal.port)
    tracker.call("HELLO", "3")
    writer = RawClient(shoal.port)
    # BCAST: every key under the prefix, read or not.
    tracker.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:")
    writer.call("SET", "user:1", "a")
    writer.call("SET", "other", "b")
    assert tracker.message() == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nuser:1\r\n"
    assert tracker.no_message()
    tracker.call("CLIENT", "TRACKING", "OFF")
    # OPTIN: only the command after CLIENT CACHING YES is tracked.
    tracker.call("CLIENT", "TRACKING", "ON", "OPTIN")
    tracker.call("GET", "plain")
    tracker.call("CLIENT", "CACHING", "YES")
    tracker.call("GET", "cached")
    writer.call("SET", "plain", "1")
    writer.call("SET", "cached", "1")
    assert tracker.message() == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\ncached\r\n"
    assert tracker.no_message()
    tracker.call("CLIENT", "TRACKING", "OFF")
    # NOLOOP: the client's own writes don't come back.
    tracker.call("CLIENT", "TRACKING", "ON", "NOLOOP")
    tracker.call("GET", "mine")
    tracker.call("SET", "mine", "1")
    assert tracker.no_message()
    # FLUSHALL: a null invalidation.
    tracker.call("GET", "mine")
    writer.call("FLUSHALL")
    assert tracker.message() == b">2\r\n$10\r\ninvalidate\r\n_\r\n"
    tracker.call("CLIENT", "TRACKING", "OFF")
    # RESP2 with REDIRECT to a client subscribed to __redis__:invalidate.
    listener = Subscriber(shoal.port)
    listener_id = int(listener.call("CLIENT", "ID")[1:-2])
    listener.call("SUBSCRIBE", "__redis__:invalidate")
    resp2 = RawClient(shoal.port)
    assert resp2.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(listener_id)) == b"+OK\r\n"
    assert resp2.call("CLIENT", "GETREDIR") == b":%d\r\n" % listener_id
    resp2.call("GET", "shared")
    writer.call("SET", "shared", "x")
    assert listener.message() == b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$6\r\nshared\r\n"
    info = writer.call("INFO", "clients").decode()
    assert "tracking_clients:1" in info


def test_tracking_expired_and_evicted_keys_invalidate(start_shoal):
    server = start_shoal("--hz", "100")
    tracker = Subscriber(server.port)
    tracker.call("HELLO", "3")
    tracker.call("CLIENT", "TRACKING", "ON")
    writer = RawClient(server.port)
    writer.call("SET", "soon", "v", "PX", "50")
    tracker.call("GET", "soon")
    assert tracker.message(timeout=5) == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\nsoon\r\n"


def test_tracking_table_max_keys_evicts_with_invalidations(start_shoal):
    server = start_shoal("--tracking-table-max-keys", "10")
    tracker = Subscriber(server.port)
    tracker.call("HELLO", "3")
    tracker.call("CLIENT", "TRACKING", "ON")
    for index in range(20):
        tracker.send("GET", f"k{index}")
    replies = [tracker.message() for _ in range(30)]
    invalidations = [reply for reply in replies if reply.startswith(b">2")]
    assert len(invalidations) == 10
    info = RawClient(server.port).call("INFO", "stats").decode()
    assert "tracking_total_keys:10" in info
