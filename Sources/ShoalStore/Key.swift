#if canImport(Glibc)
    import Glibc
#endif

/// Hashes key bytes with the standard library's SipHash, which is seeded randomly per process: a client who
/// chooses keys cannot predict which shard or bucket they land in, so it cannot pile them into one.
/// (Setting SWIFT_DETERMINISTIC_HASHING turns the seed off; never set it in production.)
@inline(__always)
public func hashKey(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hasher = Hasher()
    hasher.combine(bytes: bytes)
    return UInt64(bitPattern: Int64(hasher.finalize()))
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
