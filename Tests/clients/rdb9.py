"""A writer of RDB version 9 files (Redis 6.x) in the legacy encodings Redis 7 no longer writes: ziplists (lists,
hashes, sorted sets), quicklists of ziplists, intsets of each width, zipmaps, LZF-compressed strings, integer
strings of each width, both expiry opcodes. Our own code, from the RDB format; test_migration.py loads its
output into redis-server 7.0 and into Shoal and compares what they hold."""
import struct


def crc64(data):
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x95AC9329AC4BC9B5 if crc & 1 else crc >> 1
    return crc


def length(n):
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | n >> 8, n & 0xFF])
    return b"\x80" + struct.pack(">I", n)


def raw_string(data):
    return length(len(data)) + data


def int_string(value):
    if -128 <= value <= 127:
        return b"\xc0" + struct.pack("<b", value)
    if -32768 <= value <= 32767:
        return b"\xc1" + struct.pack("<h", value)
    return b"\xc2" + struct.pack("<i", value)


def lzf_compress(data):
    """A small LZF compressor: literal runs up to 32 bytes and back-references found through a 3-byte index."""
    out, literal, seen, i = bytearray(), bytearray(), {}, 0

    def flush():
        while literal:
            chunk = literal[:32]
            out.append(len(chunk) - 1)
            out.extend(chunk)
            del literal[:32]

    while i < len(data):
        key = data[i:i + 3]
        candidate = seen.get(key) if len(key) == 3 else None
        seen[key] = i
        if candidate is not None and i - candidate - 1 < 8192:
            run = 3
            while i + run < len(data) and run < 264 and data[candidate + run] == data[i + run]:
                run += 1
            flush()
            offset = i - candidate - 1
            code = run - 2
            if code < 7:
                out.append(code << 5 | offset >> 8)
            else:
                out.append(7 << 5 | offset >> 8)
                out.append(code - 7)
            out.append(offset & 0xFF)
            i += run
        else:
            literal.append(data[i])
            i += 1
    flush()
    return bytes(out)


def lzf_string(data):
    compressed = lzf_compress(data)
    return b"\xc3" + length(len(compressed)) + length(len(data)) + compressed


def ziplist_entry_body(item):
    if isinstance(item, int):
        if 0 <= item <= 12:
            return bytes([0xF1 + item])
        if -128 <= item <= 127:
            return b"\xfe" + struct.pack("<b", item)
        if -32768 <= item <= 32767:
            return b"\xc0" + struct.pack("<h", item)
        if -(1 << 23) <= item < (1 << 23):
            return b"\xf0" + struct.pack("<i", item)[:3]
        if -(1 << 31) <= item < (1 << 31):
            return b"\xd0" + struct.pack("<i", item)
        return b"\xe0" + struct.pack("<q", item)
    if len(item) <= 63:
        return bytes([len(item)]) + item
    if len(item) <= 16383:
        return bytes([0x40 | len(item) >> 8, len(item) & 0xFF]) + item
    return b"\x80" + struct.pack(">I", len(item)) + item


def ziplist(items):
    entries, previous, tail = b"", 0, 10
    for item in items:
        prevlen = bytes([previous]) if previous < 254 else b"\xfe" + struct.pack("<I", previous)
        entry = prevlen + ziplist_entry_body(item)
        tail = 10 + len(entries)
        entries += entry
        previous = len(entry)
    total = 10 + len(entries) + 1
    return struct.pack("<IIH", total, tail, min(len(items), 65535)) + entries + b"\xff"


def intset(values, width):
    code = {2: "<h", 4: "<i", 8: "<q"}[width]
    return struct.pack("<II", width, len(values)) + b"".join(struct.pack(code, v) for v in sorted(values))


def zipmap(pairs):
    out = bytearray([len(pairs)])
    for field, value in pairs:
        out += bytes([len(field)]) + field + bytes([len(value), 0]) + value
    return bytes(out + b"\xff")


def text_score(score):
    if score == float("inf"):
        return b"\xfe"
    if score == float("-inf"):
        return b"\xff"
    text = repr(score).encode()
    return bytes([len(text)]) + text


LIST_ITEMS = [b"plain", 0, 7, 12, 13, -1, 127, -128, 1000, -30000, 100000, -8000000, 2**31 - 1, -2**31, 2**40, -2**62,
              b"", b"x" * 100, b"y" * 300, b"\x00binary\xff"]

# (db, key, type byte, payload, expiry opcode bytes)
LEGACY_KEYS = [
    (0, b"raw", 0, raw_string(b"hello"), b""),
    (0, b"int8", 0, int_string(-5), b""),
    (0, b"int16", 0, int_string(3000), b""),
    (0, b"int32", 0, int_string(-100000), b""),
    (0, b"lzf", 0, lzf_string(b"abcabcabc" * 40 + b"0123456789" * 30), b""),
    (0, b"list-ziplist", 10, raw_string(ziplist(LIST_ITEMS)), b""),
    (0, b"list-quicklist", 14, length(3) + raw_string(ziplist(LIST_ITEMS[:7])) + lzf_string(ziplist([b"n" * 40] * 20))
     + raw_string(ziplist([b"last", 99])), b""),
    (0, b"intset16", 11, raw_string(intset([1, -2, 300], 2)), b""),
    (0, b"intset32", 11, raw_string(intset([70000, -70000, 5], 4)), b""),
    (0, b"intset64", 11, raw_string(intset([2**40, -2**50, 0], 8)), b""),
    (0, b"hash-ziplist", 13, raw_string(ziplist([b"f1", b"v1", b"n", 42, b"empty", b"", 7, b"seven"])), b""),
    # A sorted set's ziplist is in score order (Redis 7.0 trusts it and keeps whatever order it finds).
    (0, b"zset-ziplist", 12, raw_string(ziplist([b"c", -3, b"a", 1, b"b", b"2.5", b"d", b"1e3"])), b""),
    (0, b"hash-zipmap", 9, raw_string(zipmap([(b"name", b"shoal"), (b"kind", b"cache")])), b""),
    (0, b"list-plain", 1, length(3) + raw_string(b"one") + int_string(2) + lzf_string(b"three" * 20), b""),
    (0, b"set-plain", 2, length(3) + raw_string(b"a") + raw_string(b"b") + int_string(123), b""),
    (0, b"zset-text", 3, length(3) + raw_string(b"lo") + text_score(-1.5) + raw_string(b"hi") + text_score(float("inf"))
     + raw_string(b"neg") + text_score(float("-inf")), b""),
    (0, b"zset-binary", 5, length(2) + raw_string(b"x") + struct.pack("<d", 0.25) + raw_string(b"y") + struct.pack("<d", 1e300),
     b""),
    (0, b"hash-plain", 4, length(2) + raw_string(b"f") + raw_string(b"v") + raw_string(b"g") + int_string(1), b""),
    (0, b"expires-ms", 0, raw_string(b"soon"), b"\xfc" + struct.pack("<q", 4102444800000)),  # 2100-01-01
    (0, b"expires-s", 0, raw_string(b"later"), b"\xfd" + struct.pack("<i", 2000000000)),  # 2033
    (2, b"db2-key", 0, raw_string(b"in db 2"), b""),
    (2, b"db2-list", 10, raw_string(ziplist([b"a", b"b"])), b""),
]


def legacy_file():
    out = bytearray(b"REDIS0009")
    out += b"\xfa" + raw_string(b"redis-ver") + raw_string(b"6.2.14")
    out += b"\xfa" + raw_string(b"redis-bits") + int_string(64)
    # A key whose deadline passed: both servers skip it on load (it is not in LEGACY_KEYS).
    expired = [(0, b"expired", 0, raw_string(b"gone"), b"\xfc" + struct.pack("<q", 1000))]
    current = None
    for db, key, kind, body, expiry in expired + LEGACY_KEYS:
        if db != current:
            out += b"\xfe" + length(db) + b"\xfb" + length(10) + length(2)
            current = db
        out += expiry + bytes([kind]) + raw_string(key) + body
    out += b"\xff"
    out += struct.pack("<Q", crc64(bytes(out)))
    return bytes(out)
