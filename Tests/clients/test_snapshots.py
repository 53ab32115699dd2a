"""Snapshots through the real binary: restart, crash, corruption and the standard lz4 tool."""
import hashlib
import os
import random
import signal
import subprocess
import time

import pytest
import redis

from conftest import BINARY, ShoalProcess


def fill(port, count, prefix="key", db=0):
    proto = "".join(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n${len(v)}\r\n{v}\r\n"
                    for k, v in ((f"{prefix}:{i:08d}", f"value-{i:010d}") for i in range(count)))
    result = subprocess.run(["redis-cli", "-p", str(port), "-n", str(db), "--pipe"], input=proto,
                            capture_output=True, text=True, timeout=120)
    assert f"errors: 0, replies: {count}" in result.stdout


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_restart_restores_keys_values_and_ttls(start_shoal, tmp_path):
    server = start_shoal("--dir", str(tmp_path), persistent=True)
    r = redis.Redis(port=server.port)
    fill(server.port, 5000)
    session_set = time.monotonic()
    r.set("session", "alice", ex=1000)
    r.set("short", "lived", px=300)
    r.select(2)
    r.set("elsewhere", "db2")
    assert r.save()
    time.sleep(0.5)  # "short" expires before the restart
    assert server.stop() == 0  # SIGTERM saves again
    assert "DB saved on disk" in "".join(server.log)

    again = start_shoal("--dir", str(tmp_path), persistent=True)
    assert "DB loaded from disk: 5002 keys" in "".join(again.log)
    r = redis.Redis(port=again.port)
    assert r.dbsize() == 5001
    assert r.get("key:00004321") == b"value-0000004321"
    # The deadline is absolute: what is left is 1000 s less the time the save and restart took, however long.
    assert 1000 - (time.monotonic() - session_set) - 2 <= r.ttl("session") <= 1000
    assert r.exists("short") == 0
    assert redis.Redis(port=again.port, db=2).get("elsewhere") == b"db2"


def test_file_is_standard_lz4_and_check_snapshot_reports_it(start_shoal, tmp_path):
    server = start_shoal("--dir", str(tmp_path), persistent=True)
    fill(server.port, 3000)
    assert redis.Redis(port=server.port).save()
    path = tmp_path / "dump.shoal"
    decompressed = subprocess.run(["lz4", "-dc", str(path)], capture_output=True, timeout=30)
    assert decompressed.returncode == 0
    assert decompressed.stdout.startswith(b"SHOALSNP")
    assert b"key:00002999" in decompressed.stdout
    check = subprocess.run([BINARY, "--check-snapshot", str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and "3000 keys alive" in check.stdout and "looks OK" in check.stdout


@pytest.mark.parametrize("damage", ["flip", "truncate", "magic", "no-trailer"])
def test_corrupt_snapshot_is_refused_at_start_and_left_untouched(start_shoal, tmp_path, damage):
    server = start_shoal("--dir", str(tmp_path), persistent=True)
    fill(server.port, 2000)
    server.stop()
    path = tmp_path / "dump.shoal"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x10
    elif damage == "truncate":
        data = data[: len(data) - 7]
    elif damage == "magic":
        data[0:4] = b"\0\0\0\0"
    else:
        data = data[: bytes(data).rfind(b"\x04\x22\x4d\x18")]  # drop the trailer frame
    path.write_bytes(bytes(data))
    before = digest(path)
    result = subprocess.run([BINARY, "--bind", "127.0.0.1", "--port", "0", "--dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "Fatal error loading the snapshot" in result.stdout
    assert str(path) in result.stdout and "offset" in result.stdout
    assert digest(path) == before  # never overwritten
    check = subprocess.run([BINARY, "--check-snapshot", str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode != 0 and "SNAPSHOT ERROR" in check.stderr


def test_kill_9_during_saves_always_leaves_a_loadable_snapshot(tmp_path):
    """Take a good snapshot, then repeatedly change the data, start BGSAVE and kill -9 at a random moment.
    After every crash the server must start from a complete snapshot: the old one or the new one."""
    rng = random.Random(7)
    generation_sizes = {0: 60000}
    server = ShoalProcess("--dir", str(tmp_path), "--save", "", persistent=True)
    fill(server.port, 60000)
    assert redis.Redis(port=server.port).save()
    for round_number in range(1, 6):
        r = redis.Redis(port=server.port)
        fill(server.port, 20000, prefix=f"round{round_number}")
        generation_sizes[round_number] = generation_sizes[round_number - 1] + 20000
        r.bgsave()
        time.sleep(rng.uniform(0.0, 0.15))
        server.stop(signal.SIGKILL)
        server = ShoalProcess("--dir", str(tmp_path), "--save", "", persistent=True)
        size = redis.Redis(port=server.port).dbsize()
        assert size in (generation_sizes[round_number - 1], generation_sizes[round_number]), size
        generation_sizes[round_number] = size  # what is on disk now is the base for the next round
        leftovers = [name for name in os.listdir(tmp_path) if name.startswith("temp-")]
        for name in leftovers:  # a crashed save leaves its temporary file; it is never loaded
            os.unlink(tmp_path / name)
    server.stop()
