"""Shoal through the tools users type: redis-cli, nc and redis-benchmark, and the executable itself."""
import os
import re
import signal
import subprocess
import tempfile

from conftest import BINARY, ShoalProcess


def cli(shoal, *args, stdin=None):
    result = subprocess.run(["redis-cli", "-p", str(shoal.port), *args], input=stdin, capture_output=True,
                            text=True, timeout=60)
    return result.stdout.strip()


def test_redis_cli_one_shot(shoal):
    assert cli(shoal, "PING") == "PONG"
    assert cli(shoal, "SET", "greeting", "hello world") == "OK"
    assert cli(shoal, "GET", "greeting") == "hello world"
    assert cli(shoal, "INCRBY", "n", "5") == "5"
    assert cli(shoal, "GET", "nope") == ""
    assert "ERR unknown command 'NOPE'" in cli(shoal, "NOPE")
    assert cli(shoal, "--no-raw", "MGET", "greeting", "nope") == '1) "hello world"\n2) (nil)'


def test_redis_cli_reads_commands_from_stdin(shoal):
    out = cli(shoal, stdin="SET a 1\nINCR a\nGET a\nCOMMAND COUNT\n")
    lines = out.splitlines()
    assert lines[:3] == ["OK", "2", "2"]
    assert int(lines[3]) > 40


def test_redis_cli_pipe_mass_insertion(shoal):
    proto = "".join(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n${len(v)}\r\n{v}\r\n"
                    for k, v in ((f"key:{i:08d}", f"value-{i:010d}") for i in range(20000)))
    result = subprocess.run(["redis-cli", "-p", str(shoal.port), "--pipe"], input=proto, capture_output=True,
                            text=True, timeout=60)
    assert "errors: 0, replies: 20000" in result.stdout
    assert cli(shoal, "DBSIZE") == "20000"
    assert cli(shoal, "GET", "key:00012345") == "value-0000012345"


def test_netcat_inline_commands(shoal):
    script = b'SET greeting "hello world"\r\nGET greeting\r\nPING\r\nECHO \'single quoted\'\n'
    result = subprocess.run(["nc", "-q", "1", "127.0.0.1", str(shoal.port)], input=script, capture_output=True,
                            timeout=30)
    assert result.stdout == b"+OK\r\n$11\r\nhello world\r\n+PONG\r\n$13\r\nsingle quoted\r\n"


def test_redis_benchmark_runs_without_errors(shoal):
    for pipeline in ("1", "16"):
        result = subprocess.run(
            ["redis-benchmark", "-p", str(shoal.port), "-t", "set,get,incr,mset", "-n", "20000", "-c", "20",
             "-P", pipeline, "-q"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        for test in ("SET", "GET", "INCR", "MSET"):
            assert re.search(rf"{test}.*: [\d.]+ requests per second", result.stdout), result.stdout
        assert "error" not in result.stdout.lower()


def test_version_and_help():
    version = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=10)
    assert version.returncode == 0 and "Shoal server v=" in version.stdout
    usage = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=10)
    assert usage.returncode == 0 and "Usage: shoal-server" in usage.stdout


def test_config_file_and_flag_override(start_shoal):
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write("# test config\nmaxclients 77\ndatabases 4\nhz 20\n")
    try:
        server = start_shoal("--hz", "15", config=conf.name)
        assert cli(server, "CONFIG", "GET", "maxclients").splitlines() == ["maxclients", "77"]
        assert cli(server, "CONFIG", "GET", "hz").splitlines() == ["hz", "15"]
        assert "DB index is out of range" in cli(server, "SELECT", "4")
    finally:
        os.unlink(conf.name)


def test_bad_config_names_option_and_line():
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write("port 6379\nmaxclients lots\n")
    try:
        result = subprocess.run([BINARY, conf.name], capture_output=True, text=True, timeout=10)
        assert result.returncode != 0
        assert "line 2" in result.stderr and "maxclients lots" in result.stderr
        unknown = subprocess.run([BINARY, "--no-such-option", "1"], capture_output=True, text=True, timeout=10)
        assert unknown.returncode != 0 and "Bad directive" in unknown.stderr
    finally:
        os.unlink(conf.name)


def test_port_in_use_is_a_clear_error(shoal):
    result = subprocess.run([BINARY, "--bind", "127.0.0.1", "--port", str(shoal.port), "--save", ""],
                            capture_output=True, text=True, timeout=10)
    # The loops' listeners use SO_REUSEPORT, which would let a second process of the same user share the
    # port; Shoal claims the address exclusively first, so a second server fails like Redis does.
    assert result.returncode != 0
    assert "Address already in use" in result.stdout + result.stderr


def test_sigterm_stops_cleanly(start_shoal):
    server = start_shoal()
    assert cli(server, "SET", "k", "v") == "OK"
    assert server.stop(signal.SIGTERM) == 0
    log = "".join(server.log)
    assert "Received SIGTERM scheduling shutdown" in log and "bye bye" in log


def test_shutdown_command_stops_the_server(start_shoal):
    server = start_shoal()
    subprocess.run(["redis-cli", "-p", str(server.port), "SHUTDOWN", "NOSAVE"], capture_output=True, timeout=30)
    assert server.proc.wait(timeout=20) == 0


def test_multi_word_options_as_one_quoted_argument(start_shoal):
    """As docker-compose files write them, and as redis-server accepts them."""
    server = start_shoal("--save", "3600 1 300 100", "--client-output-buffer-limit", "normal 64mb 32mb 10",
                         persistent=True)
    assert cli(server, "CONFIG", "GET", "save").splitlines() == ["save", "3600 1 300 100"]
    limits = cli(server, "CONFIG", "GET", "client-output-buffer-limit").splitlines()[1]
    assert limits.startswith("normal 67108864 33554432 10")
