"""shoal-bench, the load generator: its reports, and that --verify catches a wrong server."""
import json
import subprocess

import redis

from conftest import BENCH


def bench(port, *args):
    return subprocess.run([BENCH, "-p", str(port), "-q", *args], capture_output=True, text=True, timeout=120)


def test_report_formats(shoal):
    text = bench(shoal.port, "-n", "20000", "-c", "10", "--mix", "set=1,get=9", "--verify")
    assert text.returncode == 0, text.stderr
    assert "20000 requests" in text.stdout and "errors: none" in text.stdout and "p99.9" in text.stdout
    csv = bench(shoal.port, "-n", "5000", "-P", "16", "--mix", "incr=1,mset=1", "--csv", "--label", "run")
    header, row = csv.stdout.strip().splitlines()
    assert header.startswith("label,mix,") and row.startswith('"run","incr=1,mset=1",')
    data = json.loads(bench(shoal.port, "-n", "5000", "--distribution", "zipf:0.99", "--json").stdout)
    assert data["requests"] == 5000 and data["rps"] > 0 and set(data["latency_ms"]) >= {"p50", "p99", "max"}
    assert data["errors"] == {}


def test_verify_catches_a_wrong_value(shoal):
    r = redis.Redis(port=shoal.port)
    for key in range(50):
        r.set(f"bench:{key:012d}", "not what shoal-bench wrote")
    result = bench(shoal.port, "-n", "2000", "-c", "4", "-r", "50", "--mix", "get=1", "--verify")
    assert result.returncode == 3
    assert "verify" in result.stdout


def test_errors_are_reported_by_kind(start_shoal):
    server = start_shoal("--maxmemory", "1mb", "--maxmemory-policy", "noeviction")
    result = bench(server.port, "-n", "20000", "-d", "1000", "--mix", "set=1")
    assert result.returncode == 3
    assert "OOM" in result.stdout


def test_fast_encoding_writes_what_verify_expects(shoal):
    # Without --verify, SET and GET are encoded byte by byte and replies skipped unparsed: the keys and values
    # must still be exactly those verify mode checks (the key name repeated to the value size).
    result = bench(shoal.port, "-n", "3000", "-P", "16", "-r", "40", "-d", "30", "--mix", "set=1")
    assert result.returncode == 0, result.stdout + result.stderr
    r = redis.Redis(port=shoal.port)
    assert r.get("bench:000000000007") == b"bench:000000000007bench:000000"
    assert r.get("bench:000000000039") == b"bench:000000000039bench:000000"
    checked = bench(shoal.port, "-n", "3000", "-P", "16", "-r", "40", "-d", "30", "--mix", "get=1", "--verify")
    assert checked.returncode == 0 and "errors: none" in checked.stdout, checked.stdout
    tx = json.loads(bench(shoal.port, "-n", "400", "-P", "4", "--mix", "tx=1", "--json").stdout)
    assert tx["errors"] == {} and tx["requests"] >= 400


def test_in_process_store_mode():
    result = subprocess.run([BENCH, "--in-process", "--threads", "2", "--duration", "0.5", "-r", "5000",
                             "--mix", "get=9,set=1", "--distribution", "zipf:0.99", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["threads"] == 2 and len(data["ops_per_second_per_thread"]) == 2
    assert data["operations"] > 0 and all(rate > 0 for rate in data["ops_per_second_per_thread"])
    assert data["distribution"] == "zipf:0.99" and data["shards"] == 64
    assert 0 <= data["contended_share"] <= 1 and data["lock_wait_ns_total"] >= 0
    refused = subprocess.run([BENCH, "--in-process", "--mix", "incr=1"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "set and get only" in refused.stderr
