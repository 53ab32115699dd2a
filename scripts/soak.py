#!/usr/bin/env python3
"""A bounded soak of the release shoal-server (issue 7): mixed reads, writes, expiries, evictions and BGSAVEs
for --seconds, sampling the server's RSS every second. Exits non-zero when RSS keeps growing once warm (the
last third of the run more than 10% + 4 MB above the end of the first third), when a command fails, or when
the server dies. Prints a JSON summary (the figures docs/RELIABILITY.md quotes).

    python3 scripts/soak.py --seconds 600          # the long run; the test suite runs 45 s
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("SHOAL_BINARY", os.path.join(ROOT, ".build", "release", "shoal-server"))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_server(directory):
    args = [BINARY, "--bind", "127.0.0.1", "--port", "0", "--dir", directory, "--save", "",
            "--maxmemory", "48mb", "--maxmemory-policy", "allkeys-lru", "--hz", "20"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "Running mode" in line and "port=" in line:
            port = int(line.split("port=")[1].split(",")[0])
        if port and "Ready to accept connections" in line:
            break
    if port is None:
        proc.kill()
        raise SystemExit("shoal-server did not start")
    # Drain the log so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, port


def worker(port, stop, counters, errors, seed):
    rng = random.Random(seed)
    r = redis.Redis(port=port, socket_timeout=30)
    while not stop.is_set():
        pipe = r.pipeline(transaction=False)
        for _ in range(100):
            key = f"soak:{rng.randrange(400_000)}"
            roll = rng.random()
            if roll < 0.45:
                pipe.get(key)
            elif roll < 0.75:
                pipe.set(key, rng.randbytes(rng.randrange(10, 1500)))
            elif roll < 0.87:
                pipe.set(key, b"x" * rng.randrange(1, 200), px=rng.randrange(5, 3000))  # expiries
            elif roll < 0.93:
                pipe.incr(f"soak:counter:{rng.randrange(1000)}")
            elif roll < 0.97:
                pipe.delete(key)
            else:
                pipe.mget([f"soak:{rng.randrange(400_000)}" for _ in range(8)])
        try:
            replies = pipe.execute(raise_on_error=False)
        except redis.exceptions.ConnectionError as error:
            errors.append(f"connection: {error}")
            return
        failures = [reply for reply in replies if isinstance(reply, Exception)]
        errors.extend(str(failure) for failure in failures[:3])
        counters[seed] += len(replies)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    directory = args.dir or tempfile.mkdtemp(prefix="shoal-soak-")
    proc, port = start_server(directory)
    stop = threading.Event()
    counters = {seed: 0 for seed in range(args.clients)}
    errors = []
    threads = [threading.Thread(target=worker, args=(port, stop, counters, errors, seed)) for seed in range(args.clients)]
    for thread in threads:
        thread.start()
    admin = redis.Redis(port=port, socket_timeout=30)
    samples = []
    bgsaves = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < args.seconds and proc.poll() is None:
            time.sleep(1)
            samples.append(rss_kb(proc.pid))
            if len(samples) % 5 == 0:
                try:
                    admin.bgsave()
                    bgsaves += 1
                except redis.exceptions.ResponseError:
                    pass  # one already running
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        alive = proc.poll() is None
        info = admin.info() if alive else {}
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    third = max(1, len(samples) // 3)
    warm = max(samples[third - 1: 2 * third] or [0])
    late = max(samples[2 * third:] or [0])
    summary = {
        "seconds": args.seconds, "clients": args.clients, "commands": sum(counters.values()),
        "errors": len(errors), "first_errors": errors[:5], "bgsaves": bgsaves,
        "evicted_keys": info.get("evicted_keys"), "expired_keys": info.get("expired_keys"),
        "keys_at_end": info.get("db0", {}).get("keys"), "used_memory_mb": round(info.get("used_memory", 0) / 1e6, 1),
        "rss_mb_after_warmup": round(warm / 1024, 1), "rss_mb_last_third_max": round(late / 1024, 1),
        "rss_mb_samples": [round(s / 1024, 1) for s in samples],
    }
    print(json.dumps(summary, indent=1))
    ok = alive and not errors and late <= warm * 1.10 + 4096 and summary["commands"] > 0
    if not ok:
        print("SOAK FAILED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
