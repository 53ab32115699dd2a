#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (Fuzz/corpus/<target>/): well-formed and deliberately broken
requests in RESP and inline form. The parser target reads its first byte as the chunk size (and auth flag),
so each parser seed starts with one. Rerun after changing the seeds; the files are committed."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


COMMANDS = [
    resp("PING"), resp("SET", "k", "v"), resp("GET", "k"), resp("SET", "k", "v", "EX", "10", "NX", "GET"),
    resp("SET", "k", "v", "PXAT", "1", "XX"), resp("INCR", "n"), resp("INCRBY", "n", "-9223372036854775808"),
    resp("INCRBYFLOAT", "f", "1e308"), resp("APPEND", "k", "x" * 40), resp("SETRANGE", "k", "536870911", "x"),
    resp("GETRANGE", "k", "-100", "100"), resp("MSET", "a", "1", "b", "2"), resp("MGET", "a", "b", "c"),
    resp("MSETNX", "a", "1", "z", "2"), resp("DEL", "a", "b"), resp("EXISTS", "a", "a"), resp("EXPIRE", "k", "10", "GT"),
    resp("PEXPIREAT", "k", "99999999999999"), resp("TTL", "k"), resp("PERSIST", "k"), resp("RENAME", "k", "k2"),
    resp("COPY", "k2", "k3", "DB", "1", "REPLACE"), resp("MOVE", "k3", "2"), resp("SCAN", "0", "MATCH", "*", "COUNT", "5", "TYPE", "string"),
    resp("KEYS", "[a-"), resp("SELECT", "3"), resp("SWAPDB", "0", "1"), resp("OBJECT", "ENCODING", "k2"),
    resp("MEMORY", "USAGE", "k2", "SAMPLES", "0"), resp("HELLO", "3"), resp("COMMAND", "DOCS", "get"),
    resp("INFO", "everything"), resp("GETEX", "k2", "PERSIST"), resp("GETDEL", "k2"), resp("FLUSHDB"),
    resp("STRLEN", b"\x00\xff"), resp("ECHO", b"\r\n$"), resp("RANDOMKEY"), resp("DBSIZE"), resp("TYPE", "n"),
]
INLINE = [b"SET a b\r\n", b"GET a\n", b"SET greeting \"hello world\"\r\n", b"SET x \"\\x41\\n\"\r\n",
          b"SET a \"b\r\n", b"SET 'a' 'it''s'\r\n", b"\r\n", b"\n\n\n", b"  PING  \r\n"]
BROKEN = [b"*1\r\n$-7\r\n", b"*x\r\n", b"*1\r\nGET\r\n", b"*1\r\n$999999999999\r\n", b"*1048577\r\n",
          b"*3\r\n$3\r\nSET\r\n$1\r\nk", b"$5\r\nhello\r\n", b"*-1\r\n", b"*0\r\n", b"*2\r\n$3\r\nGET\r\n$1\r\nkXX",
          b"A" * 70000, b"*1\r\n$4\r\nPING\r\n" * 50]


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


for i, data in enumerate(COMMANDS + INLINE + BROKEN):
    write("parser", "seed-%03d" % i, bytes([i % 17 | (0x80 if i % 5 == 0 else 0)]) + data)
for i, data in enumerate(COMMANDS + INLINE):
    write("commands", "seed-%03d" % i, bytes([i % 2]) + data)
write("commands", "session", bytes([1]) + b"".join(COMMANDS))
