#!/usr/bin/env python3
"""Pub/sub and client tracking, Shoal against redis-server in one run (issue 16's figures):

1. PUBLISH throughput per core: redis-benchmark PUBLISH (50 clients, pipeline 1 and 16) to a channel with 4
   subscribers (redis-cli processes reading as fast as they can), the server alone on CPU 0 (Shoal with one
   event loop), the clients on CPU 1, the servers alternating, medians of `--rounds`;
2. publish-to-receive latency: 4 publishers and 4 subscribers, every pair in turn (so with Shoal's two event
   loops same-loop and cross-loop deliveries are both sampled), a PUBLISH every 0.5 ms; the time from sending it
   to its arrival at the measured subscriber, p50/p99 over `--messages`;
3. invalidation latency: 4 RESP3 clients with CLIENT TRACKING ON and 4 writers, every pair in turn: the tracker
   reads a key, a writer SETs it; the time from sending the SET to the invalidation's arrival, p50/p99.

Both servers are started here (loopback, no persistence, their own temporary directory) and stopped by PID.
Usage: bench/pubsub.py [--shoal PATH] [--rounds N] [--messages N] [--out FILE]
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

from collections import namedtuple

from benchlib import encode, free_port

Server = namedtuple("Server", "proc port")


def start(kind, binary, directory, pinned=False):
    """`pinned`: the server alone on CPU 0 (Shoal with one event loop), for a per-core comparison."""
    port = free_port()
    if kind == "shoal":
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", ""]
        if pinned:
            args += ["--io-threads", "1"]
    else:
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
                "--appendonly", "no"]
    if pinned:
        args = ["taskset", "-c", "0"] + args
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return Server(proc, port)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} did not start")


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def throughput(port, pipeline, requests):
    listeners = [subprocess.Popen(["taskset", "-c", "1", "redis-cli", "-p", str(port), "SUBSCRIBE", "bench"],
                                  stdout=subprocess.DEVNULL) for _ in range(4)]
    time.sleep(0.5)
    output = subprocess.run(
        ["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-c", "50", "-n", str(requests), "-P", str(pipeline), "-q",
         "PUBLISH", "bench", "x" * 32], capture_output=True, text=True, timeout=600).stdout
    for listener in listeners:
        listener.terminate()
        listener.wait()
    match = re.search(r"([\d.]+) requests per second", output)
    if not match:
        raise RuntimeError(f"no result from redis-benchmark: {output}")
    return float(match.group(1))


def read_until(sock, buffer, marker):
    while marker not in buffer:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("closed")
        buffer += chunk
    return buffer


def publish_latency(port, messages, pairs=4):
    """Latency over `pairs` subscribers and `pairs` publishers, every combination in turn, so that with several
    event loops both same-loop and cross-loop deliveries are in the sample."""
    subscribers = [connect(port) for _ in range(pairs)]
    for subscriber in subscribers:
        subscriber.sendall(encode("SUBSCRIBE", "lat"))
        read_until(subscriber, b"", b":1\r\n")
    publishers = [connect(port) for _ in range(pairs)]
    latencies = []
    for index in range(messages):
        publisher = publishers[index % pairs]
        measured = subscribers[(index // pairs) % pairs]
        marker = b"$%d\r\n%d\r\n" % (len(str(index)), index)
        sent = time.perf_counter_ns()
        publisher.sendall(encode("PUBLISH", "lat", str(index)))
        read_until(measured, b"", marker)
        latencies.append((time.perf_counter_ns() - sent) / 1000)
        for subscriber in subscribers:
            if subscriber is not measured:
                read_until(subscriber, b"", marker)
        read_until(publisher, b"", b"\r\n")
        time.sleep(0.0005)
    return latencies


def invalidation_latency(port, rounds, pairs=4):
    trackers = [connect(port) for _ in range(pairs)]
    for tracker in trackers:
        tracker.sendall(encode("HELLO", "3") + encode("CLIENT", "TRACKING", "ON"))
        read_until(tracker, b"", b"+OK\r\n")
    writers = [connect(port) for _ in range(pairs)]
    latencies = []
    for index in range(rounds):
        key = f"tracked:{index}"
        tracker = trackers[(index // pairs) % pairs]
        writer = writers[index % pairs]
        tracker.sendall(encode("GET", key))
        read_until(tracker, b"", b"_\r\n")
        sent = time.perf_counter_ns()
        writer.sendall(encode("SET", key, "v"))
        read_until(tracker, b"", key.encode() + b"\r\n")
        latencies.append((time.perf_counter_ns() - sent) / 1000)
        read_until(writer, b"", b"+OK\r\n")
        time.sleep(0.0005)
    return latencies


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--shoal", default=os.path.join(root, ".build", "release", "shoal-server"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=300000)
    parser.add_argument("--out")
    options = parser.parse_args()
    results = {"shoal": {}, "redis": {}}
    directory = tempfile.mkdtemp(prefix="shoal-pubsub-bench-")
    try:
        for pipeline in (1, 16):
            for _ in range(options.rounds):
                for kind in ("shoal", "redis"):
                    server = start(kind, options.shoal, directory, pinned=True)
                    try:
                        results[kind].setdefault(f"P{pipeline}", []).append(
                            throughput(server.port, pipeline, options.requests))
                    finally:
                        server.proc.terminate()
                        server.proc.wait()
        for kind in ("shoal", "redis"):
            server = start(kind, options.shoal, directory)
            try:
                results[kind]["publish"] = publish_latency(server.port, options.messages)
                results[kind]["invalidate"] = invalidation_latency(server.port, options.messages // 5)
            finally:
                server.proc.terminate()
                server.proc.wait()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    lines = [f"# Pub/sub and tracking, {time.strftime('%Y-%m-%d')} (bench/pubsub.py on this 2-core machine: "
             "throughput pinned, one core per server; latencies with Shoal's default two event loops)", "",
             "| | Shoal | redis-server | Shoal/Redis |", "| --- | --- | --- | --- |"]
    for pipeline in ("P1", "P16"):
        ours, theirs = (statistics.median(results[k][pipeline]) for k in ("shoal", "redis"))
        lines.append(f"| PUBLISH req/s per core, 4 subscribers, {pipeline} (median of {options.rounds}) | {ours:,.0f} | "
                     f"{theirs:,.0f} | {ours / theirs:.2f} |")
    for name, label in (("publish", "publish-to-receive"), ("invalidate", "SET-to-invalidation")):
        for fraction, tag in ((0.5, "p50"), (0.99, "p99")):
            ours, theirs = (percentile(results[k][name], fraction) for k in ("shoal", "redis"))
            lines.append(f"| {label} {tag} (µs) | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if options.out:
        with open(options.out, "w") as out:
            out.write(text)


if __name__ == "__main__":
    main()
