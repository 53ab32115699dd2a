#!/usr/bin/env python3
"""The I/O model's own cost at pipeline 1: epoll against io_uring with nothing else in the server.

    python3 bench/io-model/run.py [--requests 300000] [--rounds 3] [--with-servers]

Builds bench/io-model/iomodel.c (needs liburing-dev) into a temporary directory, then for each round and each
server, alternating: the server alone on CPU 0, `redis-benchmark -t set -P 1 -c 50` on CPU 1. Reported: requests
per second and the server's CPU per request, user and system (from /proc/<pid>/stat), median over the rounds.
`--with-servers` adds shoal-server (.build/release, io-threads 1) and redis-server for scale. Writes
bench/results/<timestamp>-io-model/summary.md. Servers are stopped by PID.
"""
import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import free_port, process_cpu_seconds  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def measure(command, requests, workdir):
    port = free_port()
    process = subprocess.Popen(["taskset", "-c", "0"] + [part.replace("PORT", str(port)) for part in command],
                               cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        user0, system0 = process_cpu_seconds(process.pid)
        output = subprocess.run(["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-t", "set", "-P", "1",
                                 "-c", "50", "-n", str(requests), "--csv"],
                                capture_output=True, text=True, timeout=600).stdout
        user1, system1 = process_cpu_seconds(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    row = [line for line in output.splitlines() if line.startswith('"SET')][-1]
    rps = float(row.split(",")[1].strip('"'))
    return rps, (user1 - user0) * 1e6 / requests, (system1 - system0) * 1e6 / requests


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--with-servers", action="store_true")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="shoal-io-model-")
    binary = os.path.join(workdir, "iomodel")
    subprocess.run(["cc", "-O2", "-Wall", "-o", binary, os.path.join(HERE, "iomodel.c"), "-luring"], check=True)
    servers = {"epoll": [binary, "epoll", "PORT"], "io_uring": [binary, "io_uring", "PORT"]}
    if args.with_servers:
        servers["shoal-server"] = [os.path.join(ROOT, ".build", "release", "shoal-server"), "--bind", "127.0.0.1",
                                   "--port", "PORT", "--save", "", "--dir", workdir, "--io-threads", "1"]
        servers["redis-server"] = ["redis-server", "--bind", "127.0.0.1", "--port", "PORT", "--save", "",
                                   "--appendonly", "no", "--dir", workdir]
    results = {name: [] for name in servers}
    for round_number in range(args.rounds):
        for name, command in servers.items():
            results[name].append(measure(command, args.requests, workdir))
            rps, user, system = results[name][-1]
            print(f"round {round_number + 1} {name}: {rps:,.0f} req/s, {user:.2f} µs user + {system:.2f} µs system "
                  f"per request", flush=True)
    lines = ["| server | req/s (median) | user µs/req | system µs/req | CPU µs/req | CPU vs epoll |",
             "| --- | --- | --- | --- | --- | --- |"]
    base = statistics.median(u + s for _, u, s in results["epoll"])
    for name, runs in results.items():
        cpu = statistics.median(u + s for _, u, s in runs)
        lines.append(f"| {name} | {statistics.median(r for r, _, _ in runs):,.0f} | "
                     f"{statistics.median(u for _, u, _ in runs):.2f} | {statistics.median(s for _, _, s in runs):.2f}"
                     f" | {cpu:.2f} | {cpu / base:.2f} |")
    out = os.path.join(ROOT, "bench", "results", datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + "-io-model")
    os.makedirs(out, exist_ok=True)
    raw = "\n".join(f"{name} round {i + 1}: {r:.0f} req/s, {u:.3f} user, {s:.3f} system µs/req"
                    for name, runs in results.items() for i, (r, u, s) in enumerate(runs))
    open(os.path.join(out, "summary.md"), "w").write(
        f"# I/O model at pipeline 1: redis-benchmark -t set -P 1 -c 50 -n {args.requests}, server on CPU 0, load on "
        f"CPU 1, {args.rounds} rounds alternating\n\n" + "\n".join(lines) + "\n\n```\n" + raw + "\n```\n")
    print("\n".join(lines))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
