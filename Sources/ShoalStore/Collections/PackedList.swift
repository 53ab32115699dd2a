#if canImport(Glibc)
    import Glibc
#endif

/// A small collection's elements packed into one allocation, like Redis's listpack: each element as
/// `varint length, bytes`, in order. A hash stores field, value, field, value...
///
/// A lookup is a linear scan (the encoding is only used below `hash-max-listpack-entries`, where the scan is a
/// few cache lines), and every change builds a new, exactly sized buffer, as Redis's listpack reallocates and
/// moves its tail (see `PackedBytes`).
public struct PackedList: Sendable, Equatable {
    private var storage: PackedBytes

    public init() { storage = .empty }

    /// How many elements (for a hash: twice its fields).
    public var count: Int { storage.elements }

    public var allocatedBytes: Int { storage.allocatedBytes }

    /// The bytes the elements take (the offset just past the last one).
    var byteCount: Int { storage.byteCount }

    @inline(__always)
    private func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R { storage.withBytes(body) }

    /// Calls `body` with each element's offset and bytes until it returns false.
    public func forEach(_ body: (_ offset: Int, _ element: UnsafeRawBufferPointer) -> Bool) {
        withBytes { raw in
            var position = 0
            while position < raw.count {
                let start = position
                let length = Self.readVarint(raw, &position)
                if !body(start, UnsafeRawBufferPointer(rebasing: raw[position..<(position + length)])) { return }
                position += length
            }
        }
    }

    /// The element that starts at `offset` (an offset `forEach` or `find` gave), and the offset after it.
    public func element<R>(at offset: Int, _ body: (UnsafeRawBufferPointer) -> R) -> (R, next: Int) {
        withBytes { raw in
            var position = offset
            let length = Self.readVarint(raw, &position)
            return (body(UnsafeRawBufferPointer(rebasing: raw[position..<(position + length)])), position + length)
        }
    }

    /// The offset of the first element equal to `target` among every `stride`-th element (stride 2: a hash's
    /// fields), or nil.
    public func find(_ target: UnsafeRawBufferPointer, stride: Int = 1) -> Int? {
        var found: Int?
        var position = 0
        forEach { offset, element in
            defer { position += 1 }
            guard position % stride == 0, element.count == target.count else { return true }
            if element.count == 0 || memcmp(element.baseAddress!, target.baseAddress!, element.count) == 0 {
                found = offset
                return false
            }
            return true
        }
        return found
    }

    /// Appends elements at the end.
    public mutating func append(_ elements: UnsafeRawBufferPointer...) {
        replace(from: storage.byteCount, removing: 0, with: elements)
    }

    /// Replaces `removing` elements starting at the element at `offset` by `elements`.
    public mutating func replace(from offset: Int, removing: Int, with elements: [UnsafeRawBufferPointer]) {
        let newCount = count - removing + elements.count
        storage = withBytes { source in
            var end = offset
            for _ in 0..<removing { end += Self.readVarint(source, &end) }
            var inserted = 0
            for element in elements { inserted += Self.varintLength(element.count) + element.count }
            let size = source.count - (end - offset) + inserted
            if newCount == 0 { return .empty }
            return PackedBytes(bytes: size, elements: newCount) { target in
                if offset > 0 { target.copyMemory(from: source.baseAddress!, byteCount: offset) }
                var position = offset
                for element in elements {
                    position += Self.writeVarint(element.count, into: target + position)
                    if element.count > 0 {
                        (target + position).copyMemory(from: element.baseAddress!, byteCount: element.count)
                    }
                    position += element.count
                }
                let tail = source.count - end
                if tail > 0 { (target + position).copyMemory(from: source.baseAddress! + end, byteCount: tail) }
            }
        }
    }

    // MARK: - Varints

    @inline(__always)
    static func readVarint(_ raw: UnsafeRawBufferPointer, _ position: inout Int) -> Int {
        var result = 0
        var shift = 0
        while true {
            let byte = raw[position]
            position += 1
            result |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    static func varintLength(_ value: Int) -> Int {
        var value = value
        var length = 1
        while value >= 0x80 {
            value >>= 7
            length += 1
        }
        return length
    }

    static func writeVarint(_ value: Int, into target: UnsafeMutableRawPointer) -> Int {
        var value = value
        var length = 0
        while value >= 0x80 {
            target.storeBytes(of: UInt8(truncatingIfNeeded: value) | 0x80, toByteOffset: length, as: UInt8.self)
            value >>= 7
            length += 1
        }
        target.storeBytes(of: UInt8(value), toByteOffset: length, as: UInt8.self)
        return length + 1
    }
}

/// What an allocation of `capacity` bytes in a Swift array costs the heap: the 32-byte array header plus the
/// bytes, in malloc's 16-byte chunks with its 8-byte header.
@inline(__always)
func allocationBytes(_ capacity: Int) -> Int { capacity == 0 ? 0 : (capacity + 32 + 8 + 15) & ~15 }

/// An immutable, exactly sized byte buffer with an element count: what packed collections (listpack, intset)
/// are stored in. A change builds a new buffer, so copies (a snapshot's included) share buffers safely and no
/// write ever sees a shared buffer change under it.
///
/// A `ManagedBuffer` rather than an `[UInt8]`: its header is 8 bytes smaller than an array's, which with
/// malloc's 16-byte rounding is 16 bytes per small hash or set.
// Sendable by construction: a buffer is never written after `init` returns it.
struct PackedBytes: @unchecked Sendable, Equatable {
    private let storage: Storage

    struct Header {
        var bytes: UInt32
        var elements: UInt32
    }

    final class Storage: ManagedBuffer<Header, UInt8> {}

    nonisolated(unsafe) static let empty = PackedBytes(bytes: 0, elements: 0) { _ in }

    /// A buffer of `bytes` bytes holding `elements` elements, written by `fill`.
    init(bytes: Int, elements: Int, _ fill: (UnsafeMutableRawPointer) -> Void) {
        let buffer = Storage.create(minimumCapacity: bytes) { _ in
            Header(bytes: UInt32(bytes), elements: UInt32(elements))
        }
        buffer.withUnsafeMutablePointerToElements { fill(UnsafeMutableRawPointer($0)) }
        storage = unsafeDowncast(buffer, to: Storage.self)
    }

    var elements: Int { Int(storage.header.elements) }
    var byteCount: Int { Int(storage.header.bytes) }

    /// The heap bytes this costs: the object (16-byte header, then ours), the bytes, malloc's 8 and rounding.
    var allocatedBytes: Int {
        storage === Self.empty.storage ? 0 : (16 + MemoryLayout<Header>.stride + byteCount + 8 + 15) & ~15
    }

    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withUnsafeMutablePointers { header, elements in
            body(UnsafeRawBufferPointer(start: elements, count: Int(header.pointee.bytes)))
        }
    }

    static func == (lhs: PackedBytes, rhs: PackedBytes) -> Bool {
        lhs.elements == rhs.elements && lhs.withBytes { a in rhs.withBytes { b in a.elementsEqual(b) } }
    }
}
