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
