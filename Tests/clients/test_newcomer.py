"""A newcomer's first minutes, as the README has them: scripts/run.sh (conf/shoal.conf, `dir .`), set a key,
Ctrl-C (the server saves dump.shoal in the working directory), then the test suite. The suite's servers must
never load that snapshot (nor write one there): each gets a directory of its own."""
import os
import re
import signal
import subprocess
import time

import redis

from conftest import BINARY, ROOT, ShoalProcess


def test_a_snapshot_left_by_run_sh_is_not_loaded_by_the_tests(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # stands for the clone's root, where run.sh runs the server
    proc = subprocess.Popen([BINARY, os.path.join(ROOT, "conf", "shoal.conf"), "--port", "0", "--bind", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and port is None:
        line = proc.stdout.readline()
        match = re.search(r"port=(\d+)", line)
        port = int(match.group(1)) if match else None
    assert port, "the server did not say its port"
    while "Ready to accept connections" not in proc.stdout.readline():
        pass
    r = redis.Redis(port=port)
    r.set("greeting", "hello")
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert proc.wait(timeout=30) == 0
    proc.stdout.close()
    assert (tmp_path / "dump.shoal").exists()

    # A test's server started from the same directory: its own dir, nothing loaded, nothing written here.
    before = sorted(os.listdir(tmp_path))
    server = ShoalProcess()
    try:
        assert redis.Redis(port=server.port).dbsize() == 0
        redis.Redis(port=server.port).set("test-key", "x")
    finally:
        server.stop()
    assert sorted(os.listdir(tmp_path)) == before
