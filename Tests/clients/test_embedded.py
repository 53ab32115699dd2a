"""The embeddable library from a real consumer: Examples/EmbeddedCache, its own package depending on this
repository by path, built here; what the Swift code writes redis-cli reads, and the other way round."""
import os
import re
import signal
import subprocess
import time

import pytest

from test_differential import RawClient, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "Examples", "EmbeddedCache")


@pytest.fixture(scope="module")
def example():
    # Built beside the repository's own build products (ignored by git), as the test script builds the server.
    scratch = os.path.join(ROOT, ".build", "embedded-cache")
    build = subprocess.run(["swift", "build", "--package-path", EXAMPLE, "--scratch-path", scratch],
                           capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return os.path.join(scratch, "debug", "EmbeddedCache")


def test_starting_and_stopping_many_times_leaves_no_thread_or_descriptor(example, tmp_path):
    result = subprocess.run([example, "--self-test"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 threads and 0 descriptors left" in result.stdout


def test_the_example_serves_what_swift_wrote_and_sees_what_clients_write(example, tmp_path):
    port = free_port()
    process = subprocess.Popen([example, str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=tmp_path)
    try:
        line = process.stdout.readline()
        assert f"listening on 127.0.0.1:{port}" in line, line
        client = RawClient(port)
        assert client.call("GET", "greeting") == b"$16\r\nhello from Swift\r\n"
        assert client.call("GET", "visits") == b"$1\r\n1\r\n"
        assert int(client.call("TTL", "session:42")[1:-2]) > 3500
        assert subprocess.run(["redis-cli", "-p", str(port), "SET", "from-cli", "written by redis-cli"],
                              capture_output=True, text=True, timeout=30).stdout.strip() == "OK"
        assert process.stdout.readline().strip() == "EmbeddedCache: from-cli = written by redis-cli"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        rest = process.stdout.read()
        assert "received SIGTERM, stopping" in rest and "stopped" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
