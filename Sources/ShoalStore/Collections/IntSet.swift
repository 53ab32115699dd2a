/// A set of integers as Redis's intset: one buffer, a width byte (2, 4 or 8) then the members in ascending
/// order, each in that many little-endian bytes. Adding a member too wide for the current width widens all of
/// them. Membership is a binary search; SMEMBERS of an intset is in ascending order, as in Redis. Like
/// `PackedList`, every change builds a new exactly sized buffer.
public struct IntSet: Sendable, Equatable {
    private var storage: PackedBytes

    public init() { storage = Self.empty }

    nonisolated(unsafe) private static let empty = PackedBytes(bytes: 1, elements: 0) { $0.storeBytes(of: 2, as: UInt8.self) }

    private func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R { storage.withBytes(body) }

    private var width: Int { withBytes { Int($0[0]) } }

    public var count: Int { storage.elements }

    public var allocatedBytes: Int { storage.allocatedBytes }

    /// The member at position `index` (0 = smallest).
    public subscript(index: Int) -> Int64 {
        withBytes { raw in Self.load(raw, index, width: Int(raw[0])) }
    }

    public func contains(_ value: Int64) -> Bool { if case .found = search(value) { return true } else { return false } }

    /// Adds `value`; false when it was already a member.
    @discardableResult
    public mutating func insert(_ value: Int64) -> Bool {
        let needed = Self.width(for: value)
        if needed > width { widen(to: needed) }
        guard case .insertAt(let position) = search(value) else { return false }
        let width = self.width
        storage = withBytes { source in
            PackedBytes(bytes: source.count + width, elements: count + 1) { target in
                let split = 1 + position * width
                target.copyMemory(from: source.baseAddress!, byteCount: split)
                Self.store(value, into: target + split, width: width)
                if source.count > split {
                    (target + split + width).copyMemory(from: source.baseAddress! + split, byteCount: source.count - split)
                }
            }
        }
        return true
    }

    /// Removes `value`; false when it was not a member.
    @discardableResult
    public mutating func remove(_ value: Int64) -> Bool {
        guard case .found(let position) = search(value) else { return false }
        remove(at: position)
        return true
    }

    /// Removes the member at position `index`.
    public mutating func remove(at index: Int) {
        let width = self.width
        let start = 1 + index * width
        storage = withBytes { source in
            PackedBytes(bytes: source.count - width, elements: count - 1) { target in
                target.copyMemory(from: source.baseAddress!, byteCount: start)
                let tail = source.count - start - width
                if tail > 0 { (target + start).copyMemory(from: source.baseAddress! + start + width, byteCount: tail) }
            }
        }
    }

    public func forEach(_ body: (Int64) -> Void) {
        withBytes { raw in
            let width = Int(raw[0])
            for index in 0..<((raw.count - 1) / width) { body(Self.load(raw, index, width: width)) }
        }
    }

    // MARK: - Internals

    private enum Position {
        case found(Int)
        case insertAt(Int)
    }

    private func search(_ value: Int64) -> Position {
        withBytes { raw in
            let width = Int(raw[0])
            var low = 0
            var high = (raw.count - 1) / width
            while low < high {
                let middle = (low + high) / 2
                let member = Self.load(raw, middle, width: width)
                if member == value { return .found(middle) }
                if member < value { low = middle + 1 } else { high = middle }
            }
            return .insertAt(low)
        }
    }

    private mutating func widen(to newWidth: Int) {
        storage = withBytes { source in
            let width = Int(source[0])
            let count = (source.count - 1) / width
            return PackedBytes(bytes: 1 + count * newWidth, elements: count) { target in
                target.storeBytes(of: UInt8(newWidth), as: UInt8.self)
                for index in 0..<count {
                    Self.store(Self.load(source, index, width: width), into: target + 1 + index * newWidth, width: newWidth)
                }
            }
        }
    }

    static func width(for value: Int64) -> Int {
        if value >= Int64(Int16.min) && value <= Int64(Int16.max) { return 2 }
        if value >= Int64(Int32.min) && value <= Int64(Int32.max) { return 4 }
        return 8
    }

    @inline(__always)
    private static func load(_ raw: UnsafeRawBufferPointer, _ index: Int, width: Int) -> Int64 {
        let offset = 1 + index * width
        switch width {
        case 2: return Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
        case 4: return Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
        default: return Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self))
        }
    }

    @inline(__always)
    private static func store(_ value: Int64, into target: UnsafeMutableRawPointer, width: Int) {
        switch width {
        case 2: target.storeBytes(of: Int16(truncatingIfNeeded: value).littleEndian, as: Int16.self)
        case 4: target.storeBytes(of: Int32(truncatingIfNeeded: value).littleEndian, as: Int32.self)
        default: target.storeBytes(of: value.littleEndian, as: Int64.self)
        }
    }

}
