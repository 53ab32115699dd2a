#!/usr/bin/env python3
"""Shoal vs redis-server on this machine, in one run (run through bench/compare.sh).

- Each server runs alone on CPU 0 (taskset; Shoal with one I/O thread), the load generator on CPU 1, both on
  loopback with persistence off.
- Matrix: SET and GET at pipeline 1 and 16, 50 connections, driven by redis-benchmark and by shoal-bench.
  The servers alternate (A B A B) for `--rounds` rounds; the tables report medians.
- Server CPU per request: utime+stime from /proc/PID/stat around each run, divided by its requests. This holds
  even when the client is the bottleneck.
- Memory: RSS after loading 1,000,000 keys key:%08d -> value-%010d; SAVE time and file size.
- Output: bench/results/<timestamp>/{results.csv, summary.md, throughput.png, latency.png, memory.png}.
Every server is stopped by its PID; every run is bounded by a request count.
"""
import argparse
import csv
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import tempfile
import time

from benchlib import process_cpu_seconds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOAL = os.path.join(ROOT, ".build", "release", "shoal-server")
BENCH = os.path.join(ROOT, ".build", "release", "shoal-bench")


class Server:
    def __init__(self, name, port, workdir, cpus="0", io_threads=1):
        self.name, self.port, self.workdir = name, port, workdir
        if name == "shoal":
            args = [SHOAL, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--io-threads", str(io_threads),
                    "--dir", workdir, "--loglevel", "warning"]
        else:
            args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                    "--dir", workdir, "--loglevel", "warning"]
        self.proc = subprocess.Popen(["taskset", "-c", cpus] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not start")

    def cli(self, *args, stdin=None):
        result = subprocess.run(["redis-cli", "-p", str(self.port), *args], input=stdin, capture_output=True,
                                text=True, timeout=600)
        return result.stdout.strip()

    def cpu_seconds(self):
        return sum(process_cpu_seconds(self.proc.pid))  # utime + stime

    def rss_bytes(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def client(args, cpus="1"):
    return subprocess.run(["taskset", "-c", cpus] + args, capture_output=True, text=True, timeout=600)


def run_redis_benchmark(server, test, pipeline, requests, cpus="1", extra=()):
    result = client(["redis-benchmark", "-p", str(server.port), "-t", test, "-n", str(requests), "-c", "50",
                     "-P", str(pipeline), "-r", "100000", "--csv", *extra], cpus)
    # --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    row = [line for line in result.stdout.splitlines() if line.startswith('"' + test.upper())][-1]
    values = [v.strip('"') for v in row.split(",")]
    return {"rps": float(values[1]), "p50": float(values[4]), "p99": float(values[6]), "max": float(values[7])}


def run_shoal_bench(server, test, pipeline, requests):
    result = client([BENCH, "-p", str(server.port), "-n", str(requests), "-c", "50", "-P", str(pipeline),
                     "-r", "100000", "--mix", f"{test}=1", "--json", "-q"])
    data = json.loads(result.stdout)
    latency = data["latency_ms"]
    return {"rps": data["rps"], "p50": latency["p50"], "p99": latency["p99"], "p999": latency["p99.9"],
            "max": latency["max"], "errors": sum(data["errors"].values())}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests-p1", type=int, default=200_000)
    parser.add_argument("--requests-p16", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1_000_000)
    args = parser.parse_args()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = os.path.join(ROOT, "bench", "results", stamp)
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="shoal-compare-")
    servers = {}
    rows = []
    try:
        for index, name in enumerate(("shoal", "redis")):
            directory = os.path.join(work, name)
            os.makedirs(directory)
            servers[name] = Server(name, 18100 + index, directory)
        # Throughput, latency and CPU per request: alternate the servers within each round.
        for round_number in range(1, args.rounds + 1):
            for tool in ("redis-benchmark", "shoal-bench"):
                for test in ("set", "get"):
                    for pipeline in (1, 16):
                        for name in ("shoal", "redis"):
                            server = servers[name]
                            requests = args.requests_p1 if pipeline == 1 else args.requests_p16
                            before = server.cpu_seconds()
                            runner = run_redis_benchmark if tool == "redis-benchmark" else run_shoal_bench
                            result = runner(server, test, pipeline, requests)
                            cpu = server.cpu_seconds() - before
                            row = {"round": round_number, "tool": tool, "test": test.upper(), "pipeline": pipeline,
                                   "server": name, "requests": requests, "rps": round(result["rps"], 1),
                                   "p50_ms": result["p50"], "p99_ms": result["p99"], "max_ms": result["max"],
                                   "cpu_us_per_request": round(cpu * 1e6 / requests, 3)}
                            rows.append(row)
                            print(f"round {round_number} {tool:15} {test.upper():3} P{pipeline:<2} {name:5} "
                                  f"{row['rps']:>11,.0f} rps  p99 {row['p99_ms']:.3f} ms  "
                                  f"cpu {row['cpu_us_per_request']:.2f} us/req", flush=True)
        # Memory for 1M small keys, and SAVE.
        proto = "".join(f"*3\r\n$3\r\nSET\r\n$12\r\nkey:{i:08d}\r\n$16\r\nvalue-{i:010d}\r\n" for i in range(args.keys))
        memory = {}
        for name, server in servers.items():
            server.cli("FLUSHALL")
            server.cli("--pipe", stdin=proto)
            time.sleep(1)
            started = time.monotonic()
            server.cli("SAVE")
            save_seconds = time.monotonic() - started
            files = [f for f in os.listdir(server.workdir) if f.startswith("dump")]
            size = os.path.getsize(os.path.join(server.workdir, files[0])) if files else 0
            memory[name] = {"keys": int(server.cli("DBSIZE")), "rss": server.rss_bytes(), "save_s": save_seconds,
                            "file_bytes": size}
            print(f"{name}: {memory[name]}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    write_results(out, rows, memory, args)
    print(f"results in {os.path.relpath(out, ROOT)}")


def median(rows, **match):
    values = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return {key: statistics.median(r[key] for r in values) for key in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request")}


def write_results(out, rows, memory, args):
    with open(os.path.join(out, "results.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    cpu_model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    lines = [f"# Shoal vs redis-server ({datetime.date.today()}, {os.cpu_count()} CPUs: {cpu_model})", "",
             f"Servers pinned to CPU 0 (Shoal with io-threads 1), load generator on CPU 1; {args.rounds} rounds "
             f"alternating the servers; medians. 50 connections, 100,000 random keys, "
             f"{args.requests_p1:,} requests at P1 and {args.requests_p16:,} at P16.", "",
             "| tool | test | pipeline | Shoal rps | Redis rps | ratio | Shoal p99 ms | Redis p99 ms | Shoal CPU µs/req | Redis CPU µs/req | CPU ratio |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    summary = []
    for tool in ("redis-benchmark", "shoal-bench"):
        for test in ("SET", "GET"):
            for pipeline in (1, 16):
                s = median(rows, tool=tool, test=test, pipeline=pipeline, server="shoal")
                r = median(rows, tool=tool, test=test, pipeline=pipeline, server="redis")
                summary.append((tool, test, pipeline, s, r))
                lines.append(f"| {tool} | {test} | {pipeline} | {s['rps']:,.0f} | {r['rps']:,.0f} | "
                             f"{s['rps'] / r['rps']:.2f} | {s['p99_ms']:.3f} | {r['p99_ms']:.3f} | "
                             f"{s['cpu_us_per_request']:.2f} | {r['cpu_us_per_request']:.2f} | "
                             f"{s['cpu_us_per_request'] / max(r['cpu_us_per_request'], 1e-9):.2f} |")
    lines += ["", f"## Memory and snapshots ({args.keys:,} keys key:%08d -> value-%010d)", "",
              "| server | RSS | bytes/key | SAVE s | file bytes |", "| --- | --- | --- | --- | --- |"]
    for name, m in memory.items():
        lines.append(f"| {name} | {m['rss'] / 1e6:.1f} MB | {m['rss'] / max(m['keys'], 1):.0f} | {m['save_s']:.2f} | {m['file_bytes']:,} |")
    if "shoal" in memory and "redis" in memory:
        lines.append(f"\nRSS ratio Shoal/Redis: {memory['shoal']['rss'] / memory['redis']['rss']:.2f}")
    open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
    charts(out, summary, memory)
    print("\n".join(lines))


def charts(out, summary, memory):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = [f"{tool.replace('redis-benchmark', 'redis-bm')}\n{test} P{pipeline}" for tool, test, pipeline, _, _ in summary]
    x = range(len(summary))
    for metric, title, filename, unit in (("rps", "Throughput (median, higher is better)", "throughput.png", "requests/s"),
                                          ("p99_ms", "p99 latency (median, lower is better)", "latency.png", "ms"),
                                          ("cpu_us_per_request", "Server CPU per request (lower is better)", "cpu.png", "µs")):
        fig, ax = plt.subplots(figsize=(11, 4.5))
        ax.bar([i - 0.2 for i in x], [s[metric] for _, _, _, s, _ in summary], width=0.4, label="Shoal", color="#2a9d8f")
        ax.bar([i + 0.2 for i in x], [r[metric] for _, _, _, _, r in summary], width=0.4, label="redis-server", color="#e76f51")
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, filename), dpi=110)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 4))
    names = list(memory)
    ax.bar(names, [memory[n]["rss"] / max(memory[n]["keys"], 1) for n in names], color=["#2a9d8f", "#e76f51"][: len(names)])
    ax.set_ylabel("RSS bytes per key")
    ax.set_title("Memory per key (1M small keys)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "memory.png"), dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
