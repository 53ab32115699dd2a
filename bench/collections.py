#!/usr/bin/env python3
"""Collections, Shoal against redis-server in one run (issue 13's figures):

1. memory: RSS growth for N small hashes of 5 fields (`hash:%06d`, fields field1..field5, 14-byte values),
   and the same for small integer sets;
2. snapshot latency: one client doing HSET on random fields of a 1,000,000-field hash, one request at a time,
   while a BGSAVE runs; the worst and p99 latency before and during the save;
3. throughput (`--throughput`): redis-benchmark LPUSH, LPOP, ZADD and ZRANGE at pipeline 1 and 16, the server
   alone on CPU 0 (Shoal with one I/O thread), redis-benchmark on CPU 1, the servers alternating, medians of
   `--rounds`; and the wake-up latency of a blocked BRPOP (push on one connection, the reply on another).

Both servers are started here (persistence to a temporary directory, loopback only) and stopped by PID.
Usage: bench/collections.py [--shoal PATH] [--hashes N] [--fields N] [--out FILE]
"""
import argparse
import os
import random
import shutil
import statistics
import socket
import subprocess
import tempfile
import time

from benchlib import encode, free_port


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def pipeline(self, commands):
        """Sends `commands` and reads as many one-line replies (integers, +OK)."""
        self.sock.sendall(b"".join(commands))
        lines = 0
        while lines < len(commands):
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
            lines += self.buffer.count(b"\r\n")
            self.buffer = b"" if self.buffer.endswith(b"\r\n") else self.buffer[self.buffer.rfind(b"\r\n") + 2:]

    def call(self, *args):
        self.pipeline([encode(*args)])


def rss(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
    return 0


def start(kind, binary, directory):
    port = free_port()
    if kind == "shoal":
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
                "--io-threads", "1"]
    else:
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
                "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} did not start")


def memory(kind, binary, directory, hashes):
    results = {}
    for shape in ("hash", "intset"):
        proc, port = start(kind, binary, directory)
        try:
            time.sleep(0.5)
            client = Client(port)
            before = rss(proc.pid)
            for start_index in range(0, hashes, 1000):
                batch = []
                for i in range(start_index, min(hashes, start_index + 1000)):
                    if shape == "hash":
                        fields = []
                        for f in range(1, 6):
                            fields += [b"field%d" % f, b"value-%08d" % (i * 5 + f)]
                        batch.append(encode(b"HSET", b"hash:%06d" % i, *fields))
                    else:
                        batch.append(encode(b"SADD", b"set:%06d" % i, *range(i, i + 5)))
                client.pipeline(batch)
            time.sleep(0.3)
            results[shape] = (rss(proc.pid) - before) / hashes
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return results


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0


def snapshot_latency(kind, binary, directory, fields):
    proc, port = start(kind, binary, directory)
    try:
        loader = Client(port)
        for start_index in range(0, fields, 10000):
            pairs = []
            for i in range(start_index, min(fields, start_index + 10000)):
                pairs += [b"field:%d" % i, b"value-%010d" % i]
            loader.call(b"HSET", b"big", *pairs)
        writer = Client(port)
        control = Client(port)
        rng = random.Random(1)
        quiet, during = [], []
        started = time.monotonic()
        save_started = None
        save_done = None
        while time.monotonic() - started < 15:
            now = time.monotonic()
            if save_started is None and now - started > 1.5:
                control.call("BGSAVE")
                save_started = time.monotonic()
            t0 = time.perf_counter()
            writer.call("HSET", "big", "field:%d" % rng.randrange(fields), "x")
            latency = (time.perf_counter() - t0) * 1000
            (during if save_started is not None and save_done is None else quiet).append(latency)
            if save_started is not None and save_done is None and len(during) % 200 == 0:
                status = subprocess.run(["redis-cli", "-p", str(port), "info", "persistence"], capture_output=True,
                                        text=True).stdout
                if "rdb_bgsave_in_progress:0" in status or "snapshot_in_progress:0" in status:
                    save_done = time.monotonic()
            if save_done is not None and time.monotonic() - save_done > 1:
                break
        return {"quiet_p99": percentile(quiet, 0.99), "quiet_max": max(quiet), "save_p99": percentile(during, 0.99),
                "save_max": max(during) if during else 0, "save_seconds": (save_done or time.monotonic()) - save_started,
                "samples_during": len(during)}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def start_pinned(kind, binary, directory):
    port = free_port()
    if kind == "shoal":
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
                "--io-threads", "1"]
    else:
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
                "--appendonly", "no"]
    proc = subprocess.Popen(["taskset", "-c", "0"] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} did not start")


def benchmark(port, test, pipeline):
    requests = 200000 if pipeline == 1 else 1000000
    base = ["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-c", "50", "-n", str(requests), "-P",
            str(pipeline), "-q", "--csv"]
    if test == "zrange":
        command = base + ["ZRANGE", "myzset", "0", "9", "WITHSCORES"]
    else:
        command = base + ["-t", test, "-r", "100000"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=600).stdout
    for line in output.splitlines():
        fields = [f.strip('"') for f in line.split(",")]
        if len(fields) >= 2 and fields[1].replace(".", "").isdigit():
            return float(fields[1])
    raise RuntimeError(f"no result from redis-benchmark: {output}")


def wake_latency(port, rounds=200):
    """Milliseconds from LPUSH to the blocked BRPOP's reply, median and worst."""
    import threading
    waiter, pusher = Client(port), Client(port)
    latencies = []
    for index in range(rounds):
        done = {}

        def wait():
            waiter.sock.sendall(encode("BRPOP", "wake", "5"))
            data = b""
            while data.count(b"\r\n") < 5:
                data += waiter.sock.recv(65536)
            done["at"] = time.perf_counter()

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.002)  # let the BRPOP block first
        pushed = time.perf_counter()
        pusher.call("LPUSH", "wake", str(index))
        thread.join()
        latencies.append((done["at"] - pushed) * 1000)
    return statistics.median(latencies), max(latencies)


def throughput(binary, rounds):
    directory = tempfile.mkdtemp(prefix="shoal-collections-")
    tests = [("lpush", 1), ("lpop", 1), ("zadd", 1), ("zrange", 1), ("lpush", 16), ("lpop", 16), ("zadd", 16),
             ("zrange", 16)]
    results = {(kind, test, pipeline): [] for kind in ("shoal", "redis") for test, pipeline in tests}
    wakes = {"shoal": [], "redis": []}
    try:
        for _ in range(rounds):
            for kind in ("shoal", "redis"):
                proc, port = start_pinned(kind, binary, directory)
                try:
                    for test, pipeline in tests:
                        if test == "lpop":
                            benchmark(port, "lpush", pipeline)  # something to pop
                        results[(kind, test, pipeline)].append(benchmark(port, test, pipeline))
                    wakes[kind].append(wake_latency(port))
                finally:
                    proc.terminate()
                    proc.wait(timeout=60)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    lines = ["| redis-benchmark, 50 clients | Shoal req/s | redis-server req/s | Shoal/Redis |", "| --- | --- | --- | --- |"]
    for test, pipeline in tests:
        s = statistics.median(results[("shoal", test, pipeline)])
        r = statistics.median(results[("redis", test, pipeline)])
        lines.append(f"| {test.upper()} P{pipeline} | {s:,.0f} | {r:,.0f} | {s / r:.2f} |")
    for kind in ("shoal", "redis"):
        median = statistics.median(w[0] for w in wakes[kind])
        worst = max(w[1] for w in wakes[kind])
        lines.append(f"| BRPOP wake-up ({kind}), median / max of 200 | {median:.3f} ms / {worst:.3f} ms | | |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shoal", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release",
                                                        "shoal-server"))
    parser.add_argument("--hashes", type=int, default=200000)
    parser.add_argument("--fields", type=int, default=1000000)
    parser.add_argument("--out")
    parser.add_argument("--throughput", action="store_true", help="only the throughput and wake-up part")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    if options.throughput:
        report = throughput(options.shoal, options.rounds)
        print(report)
        if options.out:
            with open(options.out, "w") as out:
                out.write(report + "\n")
        return
    directory = tempfile.mkdtemp(prefix="shoal-collections-")
    lines = ["| | Shoal | redis-server | Shoal/Redis |", "| --- | --- | --- | --- |"]
    try:
        shoal_memory = memory("shoal", options.shoal, directory, options.hashes)
        redis_memory = memory("redis", options.shoal, directory, options.hashes)
        for shape, label in (("hash", "RSS per small hash (5 fields)"), ("intset", "RSS per small int set (5)")):
            s, r = shoal_memory[shape], redis_memory[shape]
            lines.append(f"| {label}, {options.hashes} keys | {s:.0f} B | {r:.0f} B | {s / r:.2f} |")
        shoal_latency = snapshot_latency("shoal", options.shoal, directory, options.fields)
        redis_latency = snapshot_latency("redis", options.shoal, directory, options.fields)
        for key, label in (("quiet_p99", "HSET p99, no save"), ("quiet_max", "HSET max, no save"),
                           ("save_p99", "HSET p99 during BGSAVE"), ("save_max", "HSET max during BGSAVE")):
            s, r = shoal_latency[key], redis_latency[key]
            lines.append(f"| {label} ({options.fields} fields) | {s:.2f} ms | {r:.2f} ms | {s / r:.2f} |")
        lines.append(f"| BGSAVE duration | {shoal_latency['save_seconds']:.2f} s | "
                     f"{redis_latency['save_seconds']:.2f} s | |")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    report = "\n".join(lines)
    print(report)
    if options.out:
        with open(options.out, "w") as out:
            out.write(report + "\n")


if __name__ == "__main__":
    main()
