"""Starts the shoal-server binary on a free loopback port for the client tests and stops it by PID."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("SHOAL_BINARY", os.path.join(ROOT, ".build", "release", "shoal-server"))
BENCH = os.environ.get("SHOAL_BENCH", os.path.join(ROOT, ".build", "release", "shoal-bench"))


class ShoalProcess:
    def __init__(self, *args, config=None, persistent=False, preexec_fn=None):
        # Saving is off unless the test asks for it (and passes its own --dir). Every server gets a directory of
        # its own, so a dump.shoal in the working directory (left by scripts/run.sh) is never loaded.
        defaults = ["--bind", "127.0.0.1", "--port", "0"] + ([] if persistent else ["--save", ""])
        self.own_dir = None
        if "--dir" not in args:
            self.own_dir = tempfile.mkdtemp(prefix="shoal-test-")
            defaults += ["--dir", self.own_dir]
        self.args = [BINARY] + ([config] if config else []) + defaults + list(args)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     preexec_fn=preexec_fn)
        self.log = []
        self.port = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.log.append(line)
            match = re.search(r"Running mode=standalone, port=(\d+)", line)
            if match:
                self.port = int(match.group(1))
            if "Ready to accept connections" in line:
                return
        self.stop()
        raise RuntimeError("shoal-server did not start:\n" + "".join(self.log))

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rest = self.proc.stdout.read() if self.proc.stdout else ""
        self.log.append(rest or "")
        if self.own_dir:
            shutil.rmtree(self.own_dir, ignore_errors=True)
        return self.proc.returncode


@pytest.fixture
def shoal():
    server = ShoalProcess()
    yield server
    server.stop()


@pytest.fixture
def start_shoal():
    started = []

    def start(*args, config=None, persistent=False):
        server = ShoalProcess(*args, config=config, persistent=persistent)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def the_working_directory_is_left_alone():
    """Tests are hermetic: whatever they run, the clone's root holds the same files afterwards."""
    def snapshot():
        return sorted(name for name in os.listdir(ROOT) if not name.startswith("."))
    before = snapshot()
    yield
    assert snapshot() == before, "a test wrote into the working directory"
