#!/usr/bin/env python3
"""Scaling, measured where this machine can (run through `bench/compare.sh scaling`).

1. The store alone: `shoal-bench --in-process` (no sockets) with 1 and 2 threads, uniform and Zipf 0.99 keys,
   100/90/50% GETs over 1,000,000 keys of 16-byte values: operations per second per thread, and the shard locks'
   contention (acquisitions that had to wait, time waited, the busiest shard's share). One thread runs on CPU 0,
   two on CPUs 0 and 1.
2. The server: Shoal with `io-threads 1` and `2` against redis-server, server and redis-benchmark (2 threads)
   sharing both CPUs, SET and GET at pipeline 1 and 16; throughput and server CPU per request (utime+stime
   from /proc), alternating the servers for `--rounds` rounds, medians.

Output: bench/results/<timestamp>-scaling/{results.json, summary.md, store.png, server.png}. The model of 16
and 64 cores built on these figures is in bench/README.md. Every server is stopped by its PID.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, ROOT, Server, run_redis_benchmark  # noqa: E402


def store_runs(args):
    rows = []
    for distribution in ("uniform", "zipf:0.99"):
        for reads in (100, 90, 50):
            mix = f"get={reads},set={100 - reads}" if reads < 100 else "get=1"
            for threads in (1, 2):
                cpus = "0" if threads == 1 else "0,1"
                result = subprocess.run(
                    ["taskset", "-c", cpus, BENCH, "--in-process", "--threads", str(threads), "--duration",
                     str(args.seconds), "-r", str(args.keys), "-d", "16", "--mix", mix, "--distribution",
                     distribution, "--json"], capture_output=True, text=True, timeout=600, check=True)
                row = json.loads(result.stdout)
                row["reads"] = reads
                rows.append(row)
                print(f"store {distribution:9} {reads:3}% GET  {threads} thread(s): {row['ops_per_second']:>12,.0f} ops/s  "
                      f"contended {row['contended_share'] * 100:.3f}%  wait {row['lock_wait_ns_per_op']:.1f} ns/op  "
                      f"busiest shard {row['worst_shard_share_of_wait'] * 100:.0f}% of waiting", flush=True)
    return rows


def server_runs(args):
    rows = []
    work = tempfile.mkdtemp(prefix="shoal-scaling-")
    servers = {}
    try:
        for index, (label, name, threads) in enumerate((("shoal-io1", "shoal", 1), ("shoal-io2", "shoal", 2),
                                                        ("redis", "redis", 1))):
            directory = os.path.join(work, label)
            os.makedirs(directory)
            servers[label] = Server(name, 18200 + index, directory, cpus="0,1", io_threads=threads)
        for round_number in range(1, args.rounds + 1):
            for test in ("set", "get"):
                for pipeline in (1, 16):
                    for label, server in servers.items():
                        requests = args.requests_p1 if pipeline == 1 else args.requests_p16
                        before = server.cpu_seconds()
                        result = run_redis_benchmark(server, test, pipeline, requests, cpus="0,1",
                                                     extra=("--threads", "2"))
                        cpu = server.cpu_seconds() - before
                        row = {"round": round_number, "test": test.upper(), "pipeline": pipeline, "server": label,
                               "rps": result["rps"], "p99_ms": result["p99"],
                               "cpu_us_per_request": cpu * 1e6 / requests}
                        rows.append(row)
                        print(f"server round {round_number} {test.upper()} P{pipeline:<2} {label:9} {row['rps']:>11,.0f} rps  "
                              f"cpu {row['cpu_us_per_request']:.2f} us/req", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    return rows


def summarise(out, store, server, args):
    lines = [f"# Scaling on this machine ({datetime.date.today()}, {os.cpu_count()} CPUs)", "",
             f"## The store alone (shoal-bench --in-process, {args.keys:,} keys, 16-byte values, 64 shards, "
             f"{args.seconds} s per run)", "",
             "| keys | GETs | threads | ops/s | ops/s per thread | 2-thread speed-up | contended acquisitions | "
             "lock wait ns/op | wait share of thread time | busiest shard's share of waiting |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in store:
        one = next(r for r in store if r["distribution"] == row["distribution"] and r["reads"] == row["reads"]
                   and r["threads"] == 1)
        speedup = f"{row['ops_per_second'] / one['ops_per_second']:.2f}x" if row["threads"] == 2 else ""
        per_thread = ", ".join(f"{v:,.0f}" for v in row["ops_per_second_per_thread"])
        lines.append(f"| {row['distribution']} | {row['reads']}% | {row['threads']} | {row['ops_per_second']:,.0f} | "
                     f"{per_thread} | {speedup} | {row['contended_share'] * 100:.3f}% | "
                     f"{row['lock_wait_ns_per_op']:.1f} | {row['lock_wait_share_of_thread_time'] * 100:.2f}% | "
                     f"{row['worst_shard_share_of_wait'] * 100:.0f}% |")
    lines += ["", f"## The server (both CPUs shared with redis-benchmark --threads 2; {args.rounds} rounds, medians)", "",
              "| test | pipeline | server | rps | server CPU µs/request | rps vs redis | CPU vs redis |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    medians = {}
    for test in ("SET", "GET"):
        for pipeline in (1, 16):
            for label in ("shoal-io1", "shoal-io2", "redis"):
                picked = [r for r in server if r["test"] == test and r["pipeline"] == pipeline and r["server"] == label]
                medians[(test, pipeline, label)] = {k: statistics.median(r[k] for r in picked)
                                                    for k in ("rps", "cpu_us_per_request")}
            redis = medians[(test, pipeline, "redis")]
            for label in ("shoal-io1", "shoal-io2", "redis"):
                m = medians[(test, pipeline, label)]
                lines.append(f"| {test} | {pipeline} | {label} | {m['rps']:,.0f} | {m['cpu_us_per_request']:.2f} | "
                             f"{m['rps'] / redis['rps']:.2f} | {m['cpu_us_per_request'] / redis['cpu_us_per_request']:.2f} |")
    open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
    json.dump({"store": store, "server": server}, open(os.path.join(out, "results.json"), "w"), indent=1)
    charts(out, store, medians)
    print("\n".join(lines))


def charts(out, store, medians):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(10, 4.5))
    groups = [(d, r) for d in ("uniform", "zipf:0.99") for r in (100, 90, 50)]
    for offset, threads, color in ((-0.2, 1, "#8ab17d"), (0.2, 2, "#2a9d8f")):
        values = [next(r["ops_per_second"] for r in store if r["distribution"] == d and r["reads"] == reads
                       and r["threads"] == threads) / 1e6 for d, reads in groups]
        ax.bar([i + offset for i in range(len(groups))], values, width=0.4, label=f"{threads} thread(s)", color=color)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{d}\n{reads}% GET" for d, reads in groups], fontsize=8)
    ax.set_ylabel("million operations/s")
    ax.set_title("In-process store: 1 vs 2 threads (1M keys, 64 shards)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "store.png"), dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    cases = [(t, p) for t in ("SET", "GET") for p in (1, 16)]
    for offset, label, color in ((-0.27, "shoal-io1", "#8ab17d"), (0, "shoal-io2", "#2a9d8f"), (0.27, "redis", "#e76f51")):
        ax.bar([i + offset for i in range(len(cases))], [medians[(t, p, label)]["rps"] / 1e3 for t, p in cases],
               width=0.27, label=label, color=color)
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels([f"{t} P{p}" for t, p in cases])
    ax.set_ylabel("thousand requests/s")
    ax.set_title("Server on 2 shared CPUs: Shoal io-threads 1 and 2 vs redis-server")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "server.png"), dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests-p1", type=int, default=200_000)
    parser.add_argument("--requests-p16", type=int, default=1_000_000)
    args = parser.parse_args()
    out = os.path.join(ROOT, "bench", "results", datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + "-scaling")
    os.makedirs(out, exist_ok=True)
    store = store_runs(args)
    server = server_runs(args)
    summarise(out, store, server, args)
    print(f"results in {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
