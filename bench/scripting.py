#!/usr/bin/env python3
"""Scripting throughput (issue 15's figures), Shoal against redis-server in one run:

1. EVALSHA per core: redis-benchmark (50 clients, pipeline 1 and 16) running EVALSHA of a read-modify-write
   script (INCR a key, then GET it: two redis.call per script) over 100,000 random keys, each declared; the
   server alone on CPU 0 (Shoal with one event loop), the clients on CPU 1, servers alternating, medians of
   `--rounds`;
2. scaling: the same load on disjoint keys against Shoal with `io-threads 1` and `io-threads 2`, unpinned (on a
   2-core machine the load generator shares the cores, so this shows what a second loop adds there, not what
   many cores would).

Both servers are started here (loopback, no persistence, their own temporary directory) and stopped by PID.
Usage: bench/scripting.py [--shoal PATH] [--rounds N] [--requests N] [--out FILE]
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

from benchlib import encode, free_port

SCRIPT = "local v = redis.call('INCR', KEYS[1]) return redis.call('GET', KEYS[1])"


def start(kind, binary, directory, threads=None, pin=None):
    port = free_port()
    if kind == "shoal":
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", ""]
        if threads:
            args += ["--io-threads", str(threads)]
    else:
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
                "--appendonly", "no"]
    if pin is not None:
        args = ["taskset", "-c", str(pin)] + args
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(encode("SCRIPT", "LOAD", SCRIPT))
                reply = sock.recv(100)
                return proc, port, reply.split(b"\r\n")[1].decode()
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} did not start")


def stop(proc):
    proc.terminate()
    proc.wait(timeout=20)


def throughput(port, sha, pipeline, requests, pin=None):
    args = ["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(requests), "-r", "100000", "-P", str(pipeline),
            "-q", "EVALSHA", sha, "1", "key:__rand_int__"]
    if pin is not None:
        args = ["taskset", "-c", str(pin)] + args
    output = subprocess.run(args, capture_output=True, text=True, timeout=600).stdout
    match = re.findall(r"([\d.]+) requests per second", output)
    if not match:
        raise RuntimeError("redis-benchmark said: " + output)
    return float(match[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shoal", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release",
                                                        "shoal-server"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200000)
    parser.add_argument("--out")
    options = parser.parse_args()
    lines = []
    for pipeline in (1, 16):
        results = {"redis": [], "shoal": []}
        for _ in range(options.rounds):
            for kind in ("redis", "shoal"):
                directory = tempfile.mkdtemp(prefix="shoal-bench-")
                proc, port, sha = start(kind, options.shoal, directory, threads=1, pin=0)
                try:
                    results[kind].append(throughput(port, sha, pipeline, options.requests, pin=1))
                finally:
                    stop(proc)
                    shutil.rmtree(directory, ignore_errors=True)
        redis_rate, shoal_rate = statistics.median(results["redis"]), statistics.median(results["shoal"])
        lines.append(f"EVALSHA per core, P{pipeline}: redis-server {redis_rate:,.0f}/s, shoal {shoal_rate:,.0f}/s "
                     f"({shoal_rate / redis_rate:.2f}x)")
    for pipeline in (1, 16):
        rates = {}
        for threads in (1, 2):
            samples = []
            for _ in range(options.rounds):
                directory = tempfile.mkdtemp(prefix="shoal-bench-")
                proc, port, sha = start("shoal", options.shoal, directory, threads=threads)
                try:
                    samples.append(throughput(port, sha, pipeline, options.requests))
                finally:
                    stop(proc)
                    shutil.rmtree(directory, ignore_errors=True)
            rates[threads] = statistics.median(samples)
        lines.append(f"scripts on disjoint keys, P{pipeline}: io-threads 1 {rates[1]:,.0f}/s, io-threads 2 "
                     f"{rates[2]:,.0f}/s ({rates[2] / rates[1]:.2f}x)")
    report = "\n".join(lines)
    print(report)
    if options.out:
        with open(options.out, "w") as handle:
            handle.write(report + "\n")


if __name__ == "__main__":
    main()
