"""Observability: SLOWLOG, LATENCY, INFO latencystats/shards against redis-server where Redis has them, and the
Prometheus endpoint checked by promtool and scraped by a real Prometheus."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

from test_differential import RawClient, free_port, redis_server  # noqa: F401


def slowlog_arguments(client):
    """SLOWLOG GET's argument arrays, newest first (ids, times, durations and addresses differ by nature)."""
    raw = client.call("SLOWLOG", "GET", "-1")
    return re.findall(rb"\*6\r\n:\d+\r\n:\d+\r\n:\d+\r\n(\*\d+\r\n(?:\$\d+\r\n.*?\r\n)*?)\$\d+\r\n[\d.:]+\r\n\$\d*\r\n", raw, re.S)


def test_slowlog_matches_redis(shoal, redis_server):
    ours, theirs = RawClient(shoal.port), RawClient(redis_server)
    for client in (ours, theirs):
        assert client.call("CONFIG", "SET", "slowlog-log-slower-than", "0") == b"+OK\r\n"
        assert client.call("CONFIG", "SET", "slowlog-max-len", "5") == b"+OK\r\n"
        client.call("SLOWLOG", "RESET")
        client.call("SET", "k", "v" * 300)                       # one argument past 128 bytes
        client.call("RPUSH", "l", *[str(i) for i in range(40)])  # past 32 arguments
        client.call("AUTH", "nopass")                             # logged with its password redacted
        client.call("HELLO", "2", "AUTH", "default", "secret")
        client.call("GET", "k")
    for command in (["SLOWLOG", "LEN"], ["SLOWLOG", "GET", "-2"], ["SLOWLOG", "GET", "x"], ["SLOWLOG", "NOPE"],
                    ["SLOWLOG", "GET", "1", "2"]):
        assert ours.call(*command) == theirs.call(*command), command
    # CONFIG GET with a pattern answers in each server's table order: compare the pairs.
    assert sorted(ours.call("CONFIG", "GET", "slowlog-*").split(b"\r\n")) == sorted(
        theirs.call("CONFIG", "GET", "slowlog-*").split(b"\r\n"))
    assert slowlog_arguments(ours) == slowlog_arguments(theirs)
    assert ours.call("SLOWLOG", "GET", "1").startswith(b"*1\r\n*6\r\n")
    assert ours.call("SLOWLOG", "RESET") == b"+OK\r\n"


def test_latency_histogram_and_latencystats_shapes_match_redis(shoal, redis_server):
    ours, theirs = RawClient(shoal.port), RawClient(redis_server)
    for client in (ours, theirs):
        client.call("CONFIG", "RESETSTAT")
        for index in range(50):
            client.call("SET", f"k{index}", "v")
            client.call("GET", f"k{index}")
    for client in (ours, theirs):
        reply = client.call("LATENCY", "HISTOGRAM", "set", "nosuch")
        assert reply.startswith(b"*2\r\n$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n:50\r\n$14\r\nhistogram_usec\r\n*"), reply
        client.call("HELLO", "3")
        reply = client.call("LATENCY", "HISTOGRAM", "get")
        assert reply.startswith(b"%1\r\n$3\r\nget\r\n%2\r\n$5\r\ncalls\r\n:50\r\n$14\r\nhistogram_usec\r\n%"), reply
        client.call("HELLO", "2")
        info = client.call("INFO", "latencystats").decode()
        assert re.search(r"latency_percentiles_usec_get:p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}\r\n", info), info
    # CONFIG GET with a pattern answers in each server's table order: compare the pairs.
    pairs = [sorted(client.call("CONFIG", "GET", "latency-tracking*").split(b"\r\n")) for client in (ours, theirs)]
    assert pairs[0] == pairs[1]
    for command in (["CONFIG", "SET", "latency-tracking-info-percentiles", "50 99.99"],
                    ["CONFIG", "GET", "latency-tracking-info-percentiles"], ["LATENCY", "HISTORY", "command"],
                    ["LATENCY", "RESET"], ["LATENCY", "LATEST"], ["LATENCY"]):
        assert ours.call(*command) == theirs.call(*command), command
    assert re.search(rb"p50=[\d.]+,p99.99=[\d.]+", ours.call("INFO", "latencystats"))


def test_latency_monitor_records_slow_commands(shoal):
    client = RawClient(shoal.port)
    client.call("CONFIG", "SET", "latency-monitor-threshold", "5")
    client.call("DEBUG", "SLEEP", "0.02")
    latest = client.call("LATENCY", "LATEST")
    assert re.match(rb"\*1\r\n\*4\r\n\$7\r\ncommand\r\n:\d+\r\n:(\d+)\r\n:\d+\r\n", latest), latest
    history = client.call("LATENCY", "HISTORY", "command")
    assert history.startswith(b"*1\r\n*2\r\n:")
    assert client.call("LATENCY", "RESET", "command") == b":1\r\n"


def test_info_shards_counts_contended_lock_waits(start_shoal):
    server = start_shoal("--io-threads", "2")
    # Writers on both loops on a handful of keys: some acquisitions must wait.
    load = subprocess.run(["redis-benchmark", "-p", str(server.port), "-c", "50", "-n", "100000", "-r", "4", "-q",
                           "-t", "set,incr"], capture_output=True, text=True, timeout=300)
    assert load.returncode == 0
    info = RawClient(server.port).call("INFO", "shards").decode()
    assert "# Shards" in info and "shards_per_db:64" in info
    waits = int(re.search(r"shard_lock_write_waits:(\d+)", info).group(1))
    assert re.search(r"shard_lock_write_wait_usec:p50=[\d.]+,p99=[\d.]+,p99\.9=[\d.]+", info)
    if waits:
        assert re.search(r"shard_hot_0:db=0,shard=\d+,waits=\d+,waited_usec=\d+", info)
    everything = RawClient(server.port).call("INFO", "everything").decode()
    assert "# Shards" in everything and "# Latencystats" in everything and "# Commandstats" in everything


def test_info_accepts_several_sections(shoal, redis_server):
    for port in (shoal.port, redis_server):
        info = RawClient(port).call("INFO", "server", "clients", "latencystats").decode()
        titles = re.findall(r"# (\w+)", info)
        assert titles[:2] == ["Server", "Clients"], (port, titles)


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type"), response.read().decode()


def test_metrics_endpoint_passes_promtool(start_shoal):
    port = free_port()
    server = start_shoal("--metrics-port", str(port))
    client = RawClient(server.port)
    for index in range(100):
        client.call("SET", f"k{index}", "v")
        client.call("GET", f"k{index}")
    client.call("GET", "missing")
    client.call("NOSUCH")
    assert client.call("CONFIG", "GET", "metrics-port") == b"*2\r\n$12\r\nmetrics-port\r\n$%d\r\n%d\r\n" % (len(str(port)), port)
    status, content_type, body = fetch(f"http://127.0.0.1:{port}/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert 'redis_commands_total{cmd="set"} 100' in body
    assert 'redis_db_keys{db="db0"} 100' in body
    assert re.search(r'redis_keyspace_misses_total 1\n', body)
    assert re.search(r'shoal_command_latency_seconds_bucket\{cmd="get",le="\+Inf"\} 101\n', body)
    assert 'redis_errors_total{err="ERR"} 1' in body
    check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "" and check.stderr.strip() == "", check.stdout + check.stderr
    with pytest.raises(urllib.error.HTTPError) as missing:
        fetch(f"http://127.0.0.1:{port}/other")
    assert missing.value.code == 404


def test_a_real_prometheus_scrapes_shoal(start_shoal, tmp_path):
    metrics_port, prometheus_port = free_port(), free_port()
    server = start_shoal("--metrics-port", str(metrics_port))
    RawClient(server.port).call("SET", "seen", "by prometheus")
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: shoal\n    static_configs:\n"
                      f"      - targets: ['127.0.0.1:{metrics_port}']\n")
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        result = []
        while time.monotonic() < deadline and not result:
            time.sleep(1)
            try:
                _, _, body = fetch(f"http://127.0.0.1:{prometheus_port}/api/v1/query?query=redis_db_keys")
            except OSError:
                continue
            result = json.loads(body)["data"]["result"]
        assert result, "Prometheus never stored redis_db_keys"
        assert result[0]["metric"]["db"] == "db0" and result[0]["value"][1] == "1"
        _, _, body = fetch(f"http://127.0.0.1:{prometheus_port}/api/v1/query?query=up%7Bjob%3D%22shoal%22%7D")
        assert json.loads(body)["data"]["result"][0]["value"][1] == "1"
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)


def test_client_reply_matches_redis(shoal, redis_server):
    script = [["CLIENT", "REPLY", "OFF"], ["SET", "a", "1"], ["GET", "a"], ["CLIENT", "REPLY", "ON"], ["GET", "a"],
              ["CLIENT", "REPLY", "SKIP"], ["GET", "a"], ["PING"], ["CLIENT", "NO-EVICT", "on"],
              ["CLIENT", "REPLY", "x"], ["CLIENT", "REPLY", "OFF"], ["CLIENT", "REPLY", "SKIP"], ["PING"],
              ["CLIENT", "REPLY", "ON"]]
    streams = []
    for port in (shoal.port, redis_server):
        client = RawClient(port)
        payload = b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in c)
                           for c in script)
        client.sock.sendall(payload + b"*1\r\n$4\r\nPING\r\n")
        data = b""
        while not data.endswith(b"+PONG\r\n") or data.count(b"+PONG") < 2:
            data += client.sock.recv(65536)
        streams.append(data)
    assert streams[0] == streams[1]


def test_reset_ends_monitor_and_client_reply_off_as_redis(shoal, redis_server):
    streams = []
    for port in (shoal.port, redis_server):
        monitor = RawClient(port)
        assert monitor.call("MONITOR") == b"+OK\r\n"
        assert monitor.call("RESET") == b"+RESET\r\n"
        RawClient(port).call("SET", "after-reset", "1")  # no longer shown to the former monitor
        silent = RawClient(port)
        silent.sock.sendall(b"CLIENT REPLY OFF\r\nSET a 1\r\nRESET\r\n")
        streams.append((monitor.call("PING"), silent._reply(), silent.call("PING")))
    assert streams[0] == streams[1] == (b"+PONG\r\n", b"+RESET\r\n", b"+PONG\r\n")


def monitor_lines(port, commands):
    monitor = RawClient(port)
    assert monitor.call("MONITOR") == b"+OK\r\n"
    client = RawClient(port)
    for command in commands:
        client.call(*command)
    lines = []
    while not lines or b'"PING"' not in lines[-1]:  # admin commands and EXEC are not shown: read up to the PING
        line = monitor._line()
        # The time and the client's address differ between the two servers.
        lines.append(re.sub(rb"^\+\d+\.\d{6} \[(\d+) [^\]]+\] ", rb"+T [\1 ADDR] ", line))
    return lines


def test_monitor_matches_redis(shoal, redis_server):
    commands = [["SET", 'k"x', "v\n\x01\xff"], ["AUTH", "secret"], ["SELECT", "2"], ["GET", "k"],
                ["HELLO", "2", "AUTH", "default", "pw"], ["CONFIG", "GET", "port"], ["MULTI"], ["INCR", "n"],
                ["EXEC"], ["PING"]]
    assert monitor_lines(shoal.port, commands) == monitor_lines(redis_server, commands)


def test_grafana_dashboard_only_uses_metrics_shoal_serves(start_shoal):
    """conf/grafana/shoal.json is valid JSON and every metric its queries name is in /metrics."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "conf", "grafana", "shoal.json")) as dashboard_file:
        dashboard = json.load(dashboard_file)
    port = free_port()
    server = start_shoal("--metrics-port", str(port))
    RawClient(server.port).call("GET", "x")
    _, _, body = fetch(f"http://127.0.0.1:{port}/metrics")
    served = set(re.findall(r"^# TYPE (\w+) ", body, re.M))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\b((?:redis|shoal)_\w+?)(?:_bucket|_count|_sum)?\b(?=[{\[(]| |$)", target["expr"]):
                base = re.sub(r"_(bucket|count|sum)$", "", name)
                assert base in served or name in served, (panel["title"], name)


def test_config_rewrite_keeps_the_file_and_survives_a_restart(start_shoal, tmp_path, redis_server):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = tmp_path / "shoal.conf"
    shutil.copy(os.path.join(root, "conf", "shoal.conf"), path)
    original = path.read_text()
    server = start_shoal("--dir", str(tmp_path), "--save", "", config=str(path))
    client = RawClient(server.port)
    for name, value in (("maxmemory", "10mb"), ("notify-keyspace-events", "Ex"), ("slowlog-max-len", "7"),
                        ("lfu-decay-time", "3")):
        assert client.call("CONFIG", "SET", name, value) == b"+OK\r\n"
    assert client.call("CONFIG", "REWRITE") == b"+OK\r\n"
    text = path.read_text()
    # Comments and order kept; values replaced where they stood.
    assert [l for l in text.splitlines() if l.startswith("#")] == [l for l in original.splitlines() if l.startswith("#")]
    assert "maxmemory 10485760" in text and 'notify-keyspace-events "Ex"' not in text
    assert "notify-keyspace-events xE" in text and "slowlog-max-len 7" in text
    new_lines, old_lines = text.splitlines(), original.splitlines()
    assert new_lines[new_lines.index("maxmemory 10485760") - 1] == old_lines[old_lines.index("maxmemory 0") - 1]
    server.stop()
    again = start_shoal("--dir", str(tmp_path), config=str(path))
    client = RawClient(again.port)
    assert client.call("CONFIG", "GET", "maxmemory") == b"*2\r\n$9\r\nmaxmemory\r\n$8\r\n10485760\r\n"
    assert client.call("CONFIG", "GET", "lfu-decay-time").endswith(b"$1\r\n3\r\n")
    # Without a file, Redis's error.
    assert RawClient(start_shoal().port).call("CONFIG", "REWRITE") == RawClient(redis_server).call("CONFIG", "REWRITE")


def test_client_pause_write_holds_writes_only_and_unpause_releases_them(shoal):
    admin, client = RawClient(shoal.port), RawClient(shoal.port)
    assert admin.call("CLIENT", "PAUSE", "10000", "WRITE") == b"+OK\r\n"
    assert client.call("GET", "k") == b"$-1\r\n"  # reads go on
    client.sock.sendall(b"SET k v\r\n")
    client.sock.settimeout(0.5)
    with pytest.raises(OSError):
        client.sock.recv(100)  # held back
    client.sock.settimeout(20)
    assert admin.call("CLIENT", "UNPAUSE") == b"+OK\r\n"
    assert client._reply() == b"+OK\r\n"
    assert admin.call("CLIENT", "PAUSE", "x") == b"-ERR timeout is not an integer or out of range\r\n"
    assert admin.call("CLIENT", "PAUSE", "10", "SOME") == b"-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"


def test_client_pause_all_holds_every_command_until_it_ends(shoal):
    admin, client = RawClient(shoal.port), RawClient(shoal.port)
    assert admin.call("CLIENT", "PAUSE", "400") == b"+OK\r\n"
    started = time.monotonic()
    assert client.call("PING") == b"+PONG\r\n"
    assert time.monotonic() - started >= 0.3


# Fields of Redis 7.0's INFO that Shoal leaves out, and why (docs/COMPATIBILITY.md): jemalloc's allocator figures
# (Shoal uses the system allocator), the expiry cycle's internal statistics, read/write call counts, and what
# the RDB loader of a fork-based server counts.
ABSENT_INFO_FIELDS = {
    "allocator_active", "allocator_frag_bytes", "allocator_frag_ratio", "allocator_resident", "allocator_rss_bytes",
    "allocator_rss_ratio", "rss_overhead_bytes", "rss_overhead_ratio", "expire_cycle_cpu_milliseconds",
    "expired_stale_perc", "expired_time_cap_reached_count", "total_reads_processed", "total_writes_processed",
    "rdb_last_load_keys_expired", "rdb_last_load_keys_loaded",
}


def info_fields(port, section):
    return {line.split(":")[0] for line in RawClient(port).call("INFO", section).decode().split("\r\n")[1:]
            if ":" in line}


@pytest.mark.parametrize("section", ["server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                                     "keyspace"])
def test_info_has_the_fields_redis_has(shoal, redis_server, section):
    missing = info_fields(redis_server, section) - info_fields(shoal.port, section) - ABSENT_INFO_FIELDS
    assert not missing, f"INFO {section} lacks {sorted(missing)}"


def test_latency_graph_and_doctor(shoal, redis_server):
    ours = RawClient(shoal.port)
    assert ours.call("LATENCY", "GRAPH", "command") == RawClient(redis_server).call("LATENCY", "GRAPH", "command")
    assert b"latency-monitor-threshold" in ours.call("LATENCY", "DOCTOR")
    ours.call("CONFIG", "SET", "latency-monitor-threshold", "5")
    ours.call("DEBUG", "SLEEP", "0.02")
    graph = ours.call("LATENCY", "GRAPH", "command").decode()
    assert re.search(r"command - high \d+ ms, low \d+ ms \(all time high \d+ ms\)\n-{80}\n", graph), graph
    assert "|" in graph
    doctor = ours.call("LATENCY", "DOCTOR").decode()
    assert re.search(r"1\. command: 1 latency spikes \(average \d+ms, worst \d+ms, latest \d+ms\)", doctor), doctor
