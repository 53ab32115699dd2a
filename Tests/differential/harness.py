"""The differential harness: drives Shoal and a real redis-server with the same commands, from two clients each,
and compares every reply (as bytes, or order-insensitively where Redis leaves the order unspecified).

Used by Tests/clients/test_differential.py (fixed seeds and one random seed, in CI) and by run.py (by hand:
any family, any seed, for a bounded time)."""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REDIS_SERVER = shutil.which("redis-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


class Server:
    """A server process on a free loopback port with a directory of its own, stopped by its PID."""

    def __init__(self, argv, port):
        self.dir = tempfile.mkdtemp(prefix="shoal-differential-")
        self.port = port
        self.proc = subprocess.Popen(argv + ["--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_redis():
    assert REDIS_SERVER, "redis-server is installed by scripts/test.sh"
    port = free_port()
    return Server([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], port)


def start_shoal(binary):
    port = free_port()
    return Server([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""], port)


class RawClient:
    """Sends commands as RESP and returns each reply's exact bytes."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buffer = b""

    def _line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"$", b"=", b"!") and rest != b"-1":
            return line + b"\r\n" + self._exactly(int(rest) + 2)
        if kind in (b"*", b"~", b">") and rest != b"-1":
            return line + b"\r\n" + b"".join(self._reply() for _ in range(int(rest)))
        if kind == b"%":
            return line + b"\r\n" + b"".join(self._reply() for _ in range(2 * int(rest)))
        return line + b"\r\n"

    def call(self, *args):
        encoded = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in encoded))
        return self._reply()

    def close(self):
        self.sock.close()


def parse(data, position=0):
    """One RESP reply from `data` at `position`: (value, next position). Errors stay bytes starting with '-'."""
    end = data.index(b"\r\n", position)
    kind, rest = data[position:position + 1], data[position + 1:end]
    if kind in (b"$", b"=") and rest != b"-1":
        length = int(rest)
        return data[end + 2:end + 2 + length], end + 4 + length
    if kind in (b"*", b"~", b"%") and rest != b"-1":
        count = int(rest) * (2 if kind == b"%" else 1)
        items, position = [], end + 2
        for _ in range(count):
            item, position = parse(data, position)
            items.append(item)
        return items, position
    return data[position:end], end + 2


# Replies of a hash table's contents come in table order, which differs between any two implementations (and
# between two runs of Redis): those are compared as sorted lists. Random picks are compared by size only.
UNORDERED = {"SMEMBERS", "SINTER", "SUNION", "SDIFF", "HKEYS", "HVALS", "SPOP"}
SCANS = {"HSCAN", "SSCAN", "ZSCAN"}
PAIRED = {"HGETALL"}
RANDOM = {"SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER"}


def _upper(argument):
    return (argument if isinstance(argument, bytes) else str(argument).encode()).upper()


def normalized(command, reply):
    name = _upper(command[0]).decode(errors="replace")
    value, _ = parse(reply)
    if name == "OBJECT" and isinstance(value, bytes) and value in (b"int", b"embstr", b"raw"):
        return "a string encoding"  # decided from the bytes, not from history (docs/COMPATIBILITY.md)
    if isinstance(value, bytes) or value is None:
        is_pick = name in RANDOM and reply.startswith(b"$") and reply != b"$-1\r\n"
        return "a pick" if is_pick else reply
    words = [_upper(a) for a in command]
    if name in UNORDERED:
        return sorted(value)
    if name in PAIRED:
        return sorted(zip(value[::2], value[1::2]))
    if name in RANDOM:
        return ("picks", len(value))
    if name.startswith("GEORADIUS") or name == "GEOSEARCH":
        if not any(word in (b"ASC", b"DESC", b"COUNT") for word in words):
            return sorted(value, key=repr)  # no order asked: the order of Redis's box scan
    if name in ("SORT", "SORT_RO") and b"NOSORT" in words:
        return sorted(value, key=repr) if isinstance(value, list) else reply
    if name in SCANS:
        items = value[1]
        return (value[0], sorted(items) if name == "SSCAN" else sorted(zip(items[::2], items[1::2])))
    return reply


class Mismatch(AssertionError):
    pass


def run(shoal_port, redis_port, family, seed, steps=1500, seconds=None, setup=()):
    """Draws `steps` commands of `family` (a function of a random.Random) with `seed`, sends each to both
    servers from one of two clients, and raises Mismatch with the last commands on the first difference.
    Stops early after `seconds`. Returns the number of commands compared."""
    rng = random.Random(seed)
    shoal = [RawClient(shoal_port), RawClient(shoal_port)]
    redis = [RawClient(redis_port), RawClient(redis_port)]
    try:
        for client in shoal + redis:
            client.call("FLUSHALL")
            for command in setup:
                reply = client.call(*command)
                if reply != b"+OK\r\n":
                    raise Mismatch(f"setup {command}: {reply!r}")
        history = []
        deadline = time.monotonic() + seconds if seconds else None
        for step in range(steps):
            if deadline and time.monotonic() > deadline:
                return step
            who = 0 if rng.random() < 0.7 else 1
            command = family(rng)
            history.append(short(f"client{who}: {' '.join(map(printable, command))}", 400))
            expected = normalized(command, redis[who].call(*command))
            got = normalized(command, shoal[who].call(*command))
            if got != expected:
                raise Mismatch(f"step {step}, seed {seed}: redis {short(expected)}, shoal {short(got)}; last commands:\n"
                               + "\n".join(history[-15:]))
        return steps
    finally:
        for client in shoal + redis:
            client.close()


def short(reply, limit=300):
    text = repr(reply)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def printable(argument):
    text = argument.decode("latin-1") if isinstance(argument, bytes) else str(argument)
    return repr(text) if not text or any(c in text for c in " \x00\r\n\"'") or not text.isprintable() else text


def default_binary():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.environ.get("SHOAL_BINARY", os.path.join(root, ".build", "release", "shoal-server"))
