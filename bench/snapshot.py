#!/usr/bin/env python3
"""Writers during a snapshot: SET latency over time while a BGSAVE of a big dataset runs, Shoal vs redis-server.

    bench/compare.sh snapshot [--keys 5000000] [--requests 800000] [--bgsave-at 1.5]

Each server runs alone on CPU 0 (Shoal with one I/O thread), persistence on in its own temporary dir; the
load runs on CPU 1. The server is filled with `--keys` keys `key:%012d` -> 16-byte values (redis-cli --pipe),
then redis-benchmark sends SETs over the same keys at pipeline 1 from 50 connections while a probe connection
times one SET after another; a BGSAVE starts `--bgsave-at` seconds in. Reported per server: the probe's p99 and
worst SET before and during the save and how many probe SETs took over 10 ms during it, redis-benchmark's own
p99 and max over the run, the server's extra RSS during the save (Redis: its fork's copy-on-write,
`rdb_last_cow_size`), what Shoal's INFO says writers paid (`snapshot_last_writer_pause_usec`,
`snapshot_last_writer_copy_max_usec`) and the VM's steal time over the load (a hypervisor pause is a stall
neither server caused). Writes
bench/results/<timestamp>-snapshot/{summary.md, timeline.csv (worst SET per 10 ms), snapshot-latency.png}. Servers are stopped by PID.
"""
import argparse
import datetime
import os
import random
import signal
import socket
import subprocess
import tempfile
import threading
import time

from benchlib import encode, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOAL = os.path.join(ROOT, ".build", "release", "shoal-server")


class Server:
    def __init__(self, name, workdir, cpus="0"):
        self.name, self.port, self.workdir = name, free_port(), workdir
        common = ["--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--dir", workdir]
        if name == "shoal":
            args = [SHOAL] + common + ["--io-threads", "1"]
        else:
            args = ["redis-server"] + common + ["--appendonly", "no", "--dbfilename", "dump.rdb"]
        self.log = open(os.path.join(workdir, "server.log"), "w")
        self.proc = subprocess.Popen(["taskset", "-c", cpus] + args, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not start")

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True,
                              timeout=600).stdout.strip()

    def info(self, section):
        fields = {}
        for line in self.cli("INFO", section).splitlines():
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name] = value.strip()
        return fields

    def rss(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def fill(server, keys):
    """keys key:%012d -> 16 bytes, through redis-cli --pipe (the protocol generated in chunks)."""
    pipe = subprocess.Popen(["taskset", "-c", "1", "redis-cli", "-p", str(server.port), "--pipe"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    value = b"v" * 16
    for start in range(0, keys, 100_000):
        pipe.stdin.write(b"".join(encode("SET", b"key:%012d" % n, value) for n in range(start, min(keys, start + 100_000))))
    pipe.stdin.close()
    pipe.wait(timeout=1200)


def probe(port, keys, stop, samples):
    """One connection, one SET after another to random keys: (seconds since start, latency ms)."""
    sock = socket.create_connection(("127.0.0.1", port))
    rng = random.Random(7)
    started = time.monotonic()
    while not stop.is_set():
        request = encode("SET", b"key:%012d" % rng.randrange(keys), b"p" * 16)
        sent = time.monotonic()
        sock.sendall(request)
        reply = b""
        while not reply.endswith(b"\r\n"):
            reply += sock.recv(64)
        samples.append((sent - started, (time.monotonic() - sent) * 1000))
    sock.close()


def steal_ms():
    """Time the hypervisor ran something else while this VM's CPUs wanted to run (/proc/stat, all CPUs)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return int(fields[8]) * 1000 // os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def scenario(name, args, out):
    workdir = tempfile.mkdtemp(prefix=f"shoal-snapshot-{name}-")
    server = Server(name, workdir, args.server_cpus)
    try:
        fill(server, args.keys)
        baseline = server.rss()
        stop, samples, rss = threading.Event(), [], []
        load = subprocess.Popen(["taskset", "-c", "1", "redis-benchmark", "-p", str(server.port), "-t", "set", "-r",
                                 str(args.keys), "-d", "16", "-c", "50", "-P", "1", "-n", str(args.requests), "--csv"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        thread = threading.Thread(target=probe, args=(server.port, args.keys, stop, samples))
        started = time.monotonic()
        steal_before = steal_ms()
        thread.start()
        time.sleep(args.bgsave_at)
        save_start = time.monotonic() - started
        server.cli("BGSAVE")
        while True:
            rss.append(server.rss())
            if server.info("persistence").get("rdb_bgsave_in_progress", "0") == "0" and time.monotonic() - started > args.bgsave_at + 0.2:
                break
            time.sleep(0.05)
        save_end = time.monotonic() - started
        time.sleep(0.5)
        rss_after = server.rss()  # what the save left behind once done
        output = load.communicate(timeout=1200)[0]  # the load runs to its request count
        stop.set()
        thread.join()
        steal = steal_ms() - steal_before
        persistence = server.info("persistence")
    finally:
        server.stop()
    quiet = [ms for t, ms in samples if t < save_start]
    during = [ms for t, ms in samples if save_start <= t <= save_end]
    row = [line for line in output.splitlines() if line.startswith('"SET')]
    bench = [v.strip('"') for v in row[-1].split(",")] if row else []
    extra = max(rss) - baseline if rss else 0
    result = {
        "server": name, "keys": args.keys, "save_seconds": round(save_end - save_start, 2),
        "probe_p99_quiet_ms": round(percentile(quiet, 0.99), 2), "probe_max_quiet_ms": round(max(quiet, default=0), 2),
        "probe_p99_save_ms": round(percentile(during, 0.99), 2), "probe_max_save_ms": round(max(during, default=0), 2),
        "probe_over_10ms_save": sum(1 for ms in during if ms > 10),
        "bench_p99_ms": bench[6] if bench else "", "bench_max_ms": bench[7] if bench else "",
        "rss_extra_mb": round(extra / 2**20, 1), "rss_after_save_mb": round((rss_after - baseline) / 2**20, 1),
        "redis_cow_mb": round(int(persistence.get("rdb_last_cow_size", 0)) / 2**20, 1) if name == "redis" else "",
        "writer_pause_usec": persistence.get("snapshot_last_writer_pause_usec", ""),
        "writer_copy_max_usec": persistence.get("snapshot_last_writer_copy_max_usec", ""),
        "writer_copies": persistence.get("snapshot_last_writer_copies", ""),
        "vm_steal_ms": steal,
    }
    # The timeline as the worst SET per 10 ms window (the chart's data; every sample would be megabytes).
    windows = {}
    for t, ms in samples:
        windows[int(t * 100)] = max(ms, windows.get(int(t * 100), 0))
    with open(os.path.join(out, "timeline.csv"), "a") as timeline:
        for window in sorted(windows):
            timeline.write(f"{name},{window / 100:.2f},{windows[window]:.3f}\n")
    return result, samples, (save_start, save_end)


def chart(out, runs):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axes = plt.subplots(len(runs), 1, figsize=(10, 3.2 * len(runs)), sharex=True, squeeze=False)
    axes = axes[:, 0]
    for axis, (result, samples, (start, end)) in zip(axes, runs):
        axis.plot([t for t, _ in samples], [ms for _, ms in samples], linewidth=0.5)
        axis.axvspan(start, end, color="orange", alpha=0.25, label="BGSAVE")
        axis.set_yscale("log")
        axis.set_ylabel("SET latency, ms")
        axis.set_title(f"{result['server']}: {result['keys']:,} keys, worst during the save {result['probe_max_save_ms']} ms")
        axis.legend(loc="upper right")
    axes[-1].set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(os.path.join(out, "snapshot-latency.png"), dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=5_000_000)
    parser.add_argument("--requests", type=int, default=800_000, help="redis-benchmark's SETs (about 10 s)")
    parser.add_argument("--bgsave-at", type=float, default=1.5)
    parser.add_argument("--servers", default="shoal,redis")
    parser.add_argument("--server-cpus", default="0",
                        help="CPUs for the server: 0 (alone, the default) or 0,1 (its save thread or fork child may "
                             "run beside the event loop, sharing CPU 1 with the load)")
    args = parser.parse_args()
    out = os.path.join(ROOT, "bench", "results", datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + "-snapshot")
    os.makedirs(out, exist_ok=True)
    runs = [scenario(name, args, out) for name in args.servers.split(",")]
    columns = list(runs[0][0])
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(str(result[c]) for c in columns) + " |" for result, _, _ in runs]
    summary = "\n".join(lines)
    open(os.path.join(out, "summary.md"), "w").write(
        f"# SET latency during a BGSAVE ({args.keys:,} keys, server on CPUs {args.server_cpus}, load on CPU 1)\n\n"
        f"{summary}\n\n![timeline](snapshot-latency.png)\n")
    print(summary)
    chart(out, runs)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
