#if canImport(Glibc)
    import Glibc
#endif

/// Hashes key bytes with SipHash-1-3 (the standard library's `Hasher` algorithm) under a key drawn at random per
/// process: a client who chooses keys cannot predict which shard or bucket they land in, so it cannot pile them
/// into one. Written out rather than through `Hasher`, whose byte buffering cost 250 instructions for a 16-byte
/// key (8% of a GET at pipeline 1); this is about a third of that. SWIFT_DETERMINISTIC_HASHING, as for `Hasher`,
/// fixes the key at zero (tests only; never in production).
@inline(__always)
public func hashKey(_ bytes: UnsafeRawBufferPointer) -> UInt64 { sipHash13(bytes, key: keyHashSeed) }

@inline(__always)
func sipHash13(_ bytes: UnsafeRawBufferPointer, key: (UInt64, UInt64)) -> UInt64 {
    var state = SipHash13(key: key)
    let count = bytes.count
    var offset = 0
    while offset + 8 <= count {
        state.compress(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
        offset += 8
    }
    var last = UInt64(truncatingIfNeeded: count) << 56
    var shift: UInt64 = 0
    while offset < count {
        last |= UInt64(bytes[offset]) << shift
        shift += 8
        offset += 1
    }
    state.compress(last)
    return state.finalize()
}

/// The per-process key of `hashKey`.
let keyHashSeed: (UInt64, UInt64) = {
    if let value = getenv("SWIFT_DETERMINISTIC_HASHING"), value.pointee != 0 { return (0, 0) }
    var generator = SystemRandomNumberGenerator()
    return (generator.next(), generator.next())
}()

/// SipHash with one compression round per word and three finalisation rounds.
struct SipHash13 {
    private var v0: UInt64 = 0x736f_6d65_7073_6575
    private var v1: UInt64 = 0x646f_7261_6e64_6f6d
    private var v2: UInt64 = 0x6c79_6765_6e65_7261
    private var v3: UInt64 = 0x7465_6462_7974_6573

    @inline(__always)
    init(key: (UInt64, UInt64)) {
        v0 ^= key.0
        v1 ^= key.1
        v2 ^= key.0
        v3 ^= key.1
    }

    @inline(__always)
    private mutating func round() {
        v0 = v0 &+ v1
        v1 = v1.rotatedLeft(13) ^ v0
        v0 = v0.rotatedLeft(32)
        v2 = v2 &+ v3
        v3 = v3.rotatedLeft(16) ^ v2
        v0 = v0 &+ v3
        v3 = v3.rotatedLeft(21) ^ v0
        v2 = v2 &+ v1
        v1 = v1.rotatedLeft(17) ^ v2
        v2 = v2.rotatedLeft(32)
    }

    @inline(__always)
    mutating func compress(_ word: UInt64) {
        v3 ^= word
        round()
        v0 ^= word
    }

    @inline(__always)
    mutating func finalize() -> UInt64 {
        v2 ^= 0xFF
        round()
        round()
        round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}

extension UInt64 {
    @inline(__always)
    fileprivate func rotatedLeft(_ count: UInt64) -> UInt64 { self << count | self >> (64 - count) }
}

/// A key owned by the store: its bytes and their hash, computed once.
public struct Key: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    public let hash: UInt64

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        hash = bytes.withUnsafeBytes { hashKey($0) }
    }

    public init(_ string: String) { self.init(Array(string.utf8)) }

    init(bytes: [UInt8], hash: UInt64) {
        self.bytes = bytes
        self.hash = hash
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    public static func == (lhs: Key, rhs: Key) -> Bool { lhs.hash == rhs.hash && lhs.bytes == rhs.bytes }

    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// A borrowed view of this key, valid inside `body`.
    @inline(__always)
    public func withView<R, E: Error>(_ body: (KeyView) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = bytes.withUnsafeBytes { raw in
            do throws(E) { return .success(try body(KeyView(bytes: raw, hash: hash))) } catch { return .failure(error) }
        }
        return try result.get()
    }
}

/// A key as a request carries it: bytes that live in the connection's input buffer, and their hash. Looking a
/// key up through a view allocates nothing; only storing it makes an owned `Key`.
public struct KeyView {
    public let bytes: UnsafeRawBufferPointer
    public let hash: UInt64

    @inline(__always)
    public init(bytes: UnsafeRawBufferPointer, hash: UInt64) {
        self.bytes = bytes
        self.hash = hash
    }

    @inline(__always)
    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        hash = hashKey(bytes)
    }

    public func owned() -> Key { Key(bytes: Array(bytes), hash: hash) }

    @inline(__always)
    public func matches(_ key: Key) -> Bool {
        guard key.hash == hash, key.bytes.count == bytes.count else { return false }
        if bytes.count == 0 { return true }
        return key.bytes.withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
    }
}
