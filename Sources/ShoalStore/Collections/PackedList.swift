#if canImport(Glibc)
    import Glibc
#endif

/// A small collection's elements packed into one byte array, like Redis's listpack: a 4-byte element count,
/// then each element as `varint length, bytes`, in order. A hash stores field, value, field, value...
///
/// One allocation holds the whole collection, sized exactly: a lookup is a linear scan (the encoding is only
/// used below `hash-max-listpack-entries`, where the scan is a few cache lines), and every change rebuilds
/// the array, as Redis's listpack reallocates and moves its tail. Copying it is O(1) until written.
public struct PackedList: Sendable, Equatable {
    private var bytes: [UInt8]

    static let headerBytes = 4

    public init() { bytes = [0, 0, 0, 0] }

    /// How many elements (for a hash: twice its fields).
    public var count: Int {
        bytes.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian) }
    }

    /// The heap bytes this costs (its allocation, with Swift's array header and malloc's).
    public var allocatedBytes: Int { allocationBytes(bytes.capacity) }

    /// Calls `body` with each element's offset and bytes until it returns false.
    public func forEach(_ body: (_ offset: Int, _ element: UnsafeRawBufferPointer) -> Bool) {
        bytes.withUnsafeBytes { raw in
            var position = Self.headerBytes
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
        bytes.withUnsafeBytes { raw in
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
        replace(from: bytes.count, removing: 0, with: elements)
    }

    /// Replaces `removing` elements starting at the element at `offset` by `elements`.
    public mutating func replace(from offset: Int, removing: Int, with elements: [UnsafeRawBufferPointer]) {
        var end = offset
        bytes.withUnsafeBytes { raw in
            for _ in 0..<removing {
                let length = Self.readVarint(raw, &end)
                end += length
            }
        }
        var inserted = 0
        for element in elements { inserted += Self.varintLength(element.count) + element.count }
        let newCount = count - removing + elements.count
        let size = bytes.count - (end - offset) + inserted
        let old = bytes
        bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            old.withUnsafeBytes { source in
                let target = UnsafeMutableRawBufferPointer(buffer)
                target.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: offset)
                var position = offset
                for element in elements {
                    position += Self.writeVarint(element.count, into: target.baseAddress! + position)
                    if element.count > 0 {
                        (target.baseAddress! + position).copyMemory(from: element.baseAddress!, byteCount: element.count)
                    }
                    position += element.count
                }
                let tail = source.count - end
                if tail > 0 { (target.baseAddress! + position).copyMemory(from: source.baseAddress! + end, byteCount: tail) }
                target.storeBytes(of: UInt32(newCount).littleEndian, toByteOffset: 0, as: UInt32.self)
            }
            initialized = size
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
