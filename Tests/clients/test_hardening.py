"""Issue 7 against the release binary: resources are given back, faults are survived, the door is locked.
Every loop is bounded by a count or a deadline; every server is stopped by its PID."""
import os
import random
import resource
import socket
import subprocess
import sys
import time

import pytest
import redis

from conftest import BINARY, ROOT, ShoalProcess

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from soak import rss_kb  # noqa: E402  (the soak's own RSS reader)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_until(predicate, seconds=60.0):  # a bound on a wait for a condition, not a speed check
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_ten_thousand_connections_leave_no_descriptors_or_memory_behind(shoal):
    """10,000 connect/disconnect cycles, in three manners (clean QUIT, close after a reply, reset with unread
    input), leave the file descriptor count where it was and RSS within a few MB."""
    pid = shoal.proc.pid

    def cycle(i):
        s = socket.create_connection(("127.0.0.1", shoal.port))
        manner = i % 3
        if manner == 0:
            s.sendall(b"QUIT\r\n")
            s.recv(64)
        elif manner == 1:
            s.sendall(b"*3\r\n$3\r\nSET\r\n$6\r\nconn:x\r\n$3\r\nabc\r\n")
            s.recv(64)
        else:
            s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\npartial")  # a request that never completes
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        s.close()

    r = redis.Redis(port=shoal.port)  # the one connection that stays, in both counts
    for i in range(500):  # warm up allocator arenas and buffers
        cycle(i)
    assert wait_until(lambda: r.info("clients")["connected_clients"] == 1)
    fds_before, rss_before = fd_count(pid), rss_kb(pid)
    for i in range(10_000):
        cycle(i)
    assert wait_until(lambda: r.info("clients")["connected_clients"] == 1)
    fds_after, rss_after = fd_count(pid), rss_kb(pid)
    print(f"fds {fds_before} -> {fds_after}, RSS {rss_before} -> {rss_after} kB")
    assert fds_after == fds_before
    assert rss_after - rss_before < 4096, (rss_before, rss_after)
    assert r.info("stats")["total_connections_received"] >= 10_500
    assert r.get("conn:x") == b"abc"


def test_full_disk_fails_the_save_cleanly_blocks_writes_and_loses_nothing(tmp_path):
    """A file size limit (RLIMIT_FSIZE, what a full disk looks like to write()) makes SAVE fail: the error is
    reported, writes get MISCONF while reads go on, the last good snapshot stays whole, and once the limit is
    lifted the next SAVE succeeds and writes are accepted again."""
    limit = 1 << 20

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    server = ShoalProcess("--dir", str(tmp_path), "--save", "3600", "1", persistent=True, preexec_fn=limit_file_size)
    try:
        r = redis.Redis(port=server.port)
        r.mset({f"small:{i}": i for i in range(1000)})
        assert r.save()
        good = (tmp_path / "dump.shoal").read_bytes()
        rng = random.Random(3)
        pipe = r.pipeline(transaction=False)
        for i in range(3000):  # 3 MB that LZ4 can't shrink: more than the limit
            pipe.set(f"big:{i}", rng.randbytes(1000))
        pipe.execute()
        with pytest.raises(redis.exceptions.ResponseError):
            r.save()
        assert r.info("persistence")["rdb_last_bgsave_status"] == "err"
        with pytest.raises(redis.exceptions.ResponseError, match="MISCONF"):
            r.set("blocked", "1")
        assert r.get("small:7") == b"7"  # reads go on
        assert (tmp_path / "dump.shoal").read_bytes() == good  # the last good snapshot is untouched
        check = subprocess.run([BINARY, "--check-snapshot", str(tmp_path / "dump.shoal")], capture_output=True, text=True)
        assert check.returncode == 0 and "1000 keys" in check.stdout + check.stderr, check.stdout + check.stderr
        assert not [n for n in os.listdir(tmp_path) if n.startswith("temp-")]  # the failed save cleaned up
        # The disk has room again: the next save works and so do writes; nothing written before is lost.
        subprocess.run(["prlimit", f"--pid={server.proc.pid}", "--fsize=unlimited"], check=True)
        assert r.save()
        r.set("unblocked", "1")
        assert r.dbsize() == 4001
    finally:
        server.stop()
    restarted = ShoalProcess("--dir", str(tmp_path), "--save", "", persistent=True)
    try:
        assert redis.Redis(port=restarted.port).dbsize() == 4001  # SIGTERM saved again: every key is back
    finally:
        restarted.stop()


def non_loopback_address():
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        address = line.split()[3].split("/")[0]
        if not address.startswith("127."):
            return address
    return None


def connect_from(address, port):
    """A client whose source address is `address`, talking to the server on 127.0.0.1 (the server itself stays
    on loopback, as tests must, but sees a non-loopback peer)."""
    s = socket.socket()
    s.bind((address, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def reply_to_ping(s):
    s.sendall(b"PING\r\n")
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.skipif(non_loopback_address() is None, reason="this machine has no non-loopback IPv4 address")
def test_protected_mode_denies_remote_clients_without_a_password(start_shoal):
    address = non_loopback_address()
    server = start_shoal("--protected-mode", "yes")
    denied = reply_to_ping(connect_from(address, server.port))
    assert denied.startswith(b"-DENIED Redis is running in protected mode")
    assert reply_to_ping(socket.create_connection(("127.0.0.1", server.port))) == b"+PONG\r\n"
    # A password opens the door (to AUTH); protected-mode no opens it entirely.
    with_password = start_shoal("--protected-mode", "yes", "--requirepass", "s3cret")
    assert reply_to_ping(connect_from(address, with_password.port)) == b"-NOAUTH Authentication required.\r\n"
    unprotected = start_shoal("--protected-mode", "no")
    assert reply_to_ping(connect_from(address, unprotected.port)) == b"+PONG\r\n"


def test_key_hashing_is_seeded_per_process(start_shoal):
    """The same keys land in a different order (shard and bucket) in two server processes, so a client can't
    precompute keys that pile into one shard or bucket."""
    orders = []
    for _ in range(2):
        server = start_shoal("--shards", "16")
        r = redis.Redis(port=server.port)
        r.mset({f"user:{i}": i for i in range(500)})
        cursor, first_page = r.scan(0, count=50)
        orders.append(first_page)
    assert orders[0] != orders[1]


def test_soak_keeps_memory_flat(tmp_path):
    """A bounded soak (mixed reads, writes, expiries, evictions and BGSAVEs): RSS stays flat once warm.
    SHOAL_SOAK_SECONDS sets the length (default 45 here; scripts/soak.sh runs longer)."""
    seconds = int(os.environ.get("SHOAL_SOAK_SECONDS", "45"))
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "soak.py"), "--seconds", str(seconds),
                             "--dir", str(tmp_path)], capture_output=True, text=True, timeout=seconds + 120)
    print(result.stdout[-3000:], result.stderr[-3000:])
    assert result.returncode == 0
