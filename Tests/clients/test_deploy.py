"""Deployment: the scale-out demo behind twemproxy, the health check, and clear start-up errors."""
import os
import subprocess

from conftest import BENCH, BINARY, ROOT, ShoalProcess


def test_scale_out_demo_short():
    env = dict(os.environ, SHOAL_BINARY=BINARY, SHOAL_BENCH=BENCH, SCALE_OUT_BASE_PORT="17300")
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "scale-out-demo.sh"), "--short"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = [int(line.split(":")[1].split()[0]) for line in result.stdout.splitlines()
              if line.startswith("shoal") and line.endswith(" keys") and "now" not in line]
    assert len(counts) == 3 and min(counts) > 0, result.stdout
    assert "SETs once ejected: 100 of 100 OK" in result.stdout
    assert "proxy: 20000 requests" in result.stdout and "errors: none" in result.stdout
    assert "scale-out demo OK" in result.stdout


def test_ping_health_check_uses_the_password_from_the_environment():
    env = dict(os.environ, SHOAL_PASSWORD="from-env")
    server = subprocess.Popen([BINARY, "--bind", "127.0.0.1", "--port", "17391", "--save", ""], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in server.stdout:
            if "Ready to accept" in line:
                break
        ping = [BINARY, "--ping", "--port", "17391"]
        assert subprocess.run(ping, env=env, timeout=10).returncode == 0
        without = {k: v for k, v in os.environ.items() if k != "SHOAL_PASSWORD"}
        assert subprocess.run(ping, env=without, timeout=10).returncode == 1  # NOAUTH: requirepass came from env
        assert subprocess.run([BINARY, "--ping", "--port", "17392"], timeout=10).returncode == 1  # nobody there
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_missing_or_unwritable_dir_is_a_clear_error(tmp_path):
    result = subprocess.run([BINARY, "--port", "0", "--dir", str(tmp_path / "missing")], capture_output=True,
                            text=True, timeout=10)
    assert result.returncode != 0 and "Can't chdir" in result.stdout
    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = subprocess.run([BINARY, "--port", "0", "--dir", str(a_file)], capture_output=True, text=True, timeout=10)
    assert result.returncode != 0 and "Can't chdir" in result.stdout
