/// A list, as Redis 7.0's quicklist: a sequence of chunks, each a packed run of elements (like a listpack
/// node: `varint length, bytes, length again backwards`, so either end can be read), bounded by
/// `list-max-listpack-size` (bytes when negative, elements when positive).
///
/// Pushing and popping touch one end chunk; an index walks the chunks by their counts. A write after a snapshot
/// copy copies the chunk list (one pointer and a count per chunk) and the chunk it changes, never the list.
public struct ListValue: Sendable {
    private var storage: Storage

    public init() { storage = Storage() }

    public var count: Int { storage.count }

    /// What OBJECT ENCODING reports: Redis 7.0 reports every list as a quicklist.
    public var encodingName: String { "quicklist" }

    public var allocatedBytes: Int { storage.bytes }

    public enum End: Sendable {
        case head, tail
    }

    // MARK: - Ends

    public mutating func push(_ element: UnsafeRawBufferPointer, at end: End, limits: EncodingLimits) {
        makeUnique()
        storage.push(element, at: end, limit: limits.listChunkLimit)
    }

    /// Removes and returns the element at `end`; nil when empty.
    public mutating func pop(_ end: End) -> [UInt8]? {
        guard count > 0 else { return nil }
        makeUnique()
        return storage.pop(end)
    }

    // MARK: - By position (0-based from the head; callers resolve negative indices)

    /// Lends the element at `index` (0 ..< count).
    public func withElement<R>(at index: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let (chunk, offset) = storage.locate(index)
        return storage.chunks[chunk].withElement(at: offset, body)
    }

    /// Replaces the element at `index` (0 ..< count).
    public mutating func replace(at index: Int, with element: UnsafeRawBufferPointer) {
        makeUnique()
        storage.replace(at: index, with: element)
    }

    /// Inserts `element` so that it ends up at `index` (0 ... count).
    public mutating func insert(_ element: UnsafeRawBufferPointer, at index: Int, limits: EncodingLimits) {
        makeUnique()
        storage.insert(element, at: index, limit: limits.listChunkLimit)
    }

    /// Keeps only the elements in `range` (LTRIM); the caller deletes the key when nothing is left.
    public mutating func keep(_ range: Range<Int>) {
        makeUnique()
        storage.keep(range)
    }

    /// Removes the elements at the given ascending positions (LREM).
    public mutating func remove(atPositions positions: [Int]) {
        guard !positions.isEmpty else { return }
        makeUnique()
        storage.remove(atPositions: positions)
    }

    /// Calls `body` with each element from position `start` on, with its position, forwards (or backwards from
    /// `start` when `reverse`), until `body` returns false.
    public func forEach(
        from start: Int = 0, reverse: Bool = false, _ body: (Int, UnsafeRawBufferPointer) -> Bool
    ) {
        storage.forEach(from: start, reverse: reverse, body)
    }

    /// Every element, owned, head first.
    public var elements: [[UInt8]] {
        var result: [[UInt8]] = []
        result.reserveCapacity(count)
        forEach { _, element in
            result.append(Array(element))
            return true
        }
        return result
    }

    /// Builds a list from `elements`, head first (a snapshot's record).
    public init(elements: [[UInt8]], limits: EncodingLimits) {
        self.init()
        for element in elements { element.withUnsafeBytes { push($0, at: .tail, limits: limits) } }
    }

    /// How many chunks, and where each one's bytes are: tests check which chunks two copies still share.
    var chunkCount: Int { storage.chunks.count }
    func chunkAddresses() -> [UnsafeRawPointer?] { storage.chunks.map { $0.bytes.withUnsafeBytes { $0.baseAddress } } }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(copying: storage) }
    }

    // MARK: - Storage

    final class Storage: @unchecked Sendable {
        // Only changed by the one writer holding the shard's write lock, after `makeUnique`.
        var chunks: [Chunk] = []
        var count = 0
        var bytes = 0

        init() {}

        init(copying other: Storage) {
            chunks = other.chunks
            count = other.count
            bytes = other.bytes
        }

        /// The chunk holding position `index`, and the position within it.
        func locate(_ index: Int) -> (chunk: Int, offset: Int) {
            var remaining = index
            if index >= count / 2 {
                // Nearer the tail: walk from there.
                remaining = count - 1 - index
                for chunk in chunks.indices.reversed() {
                    if remaining < chunks[chunk].count { return (chunk, chunks[chunk].count - 1 - remaining) }
                    remaining -= chunks[chunk].count
                }
            } else {
                for chunk in chunks.indices {
                    if remaining < chunks[chunk].count { return (chunk, remaining) }
                    remaining -= chunks[chunk].count
                }
            }
            preconditionFailure("ListValue: index \(index) out of 0..<\(count)")
        }

        private func change(_ chunk: Int, _ body: (inout Chunk) -> Void) {
            bytes -= chunks[chunk].allocatedBytes
            body(&chunks[chunk])
            bytes += chunks[chunk].allocatedBytes
        }

        private func insertChunk(_ chunk: Chunk, at position: Int) {
            chunks.insert(chunk, at: position)
            bytes += chunk.allocatedBytes + MemoryLayout<Chunk>.stride
        }

        private func removeChunk(at position: Int) {
            bytes -= chunks[position].allocatedBytes + MemoryLayout<Chunk>.stride
            chunks.remove(at: position)
        }

        func push(_ element: UnsafeRawBufferPointer, at end: End, limit: ChunkLimit) {
            let position = end == .head ? 0 : chunks.count - 1
            if chunks.isEmpty || !chunks[position].hasRoom(for: element.count, limit: limit) {
                insertChunk(Chunk(), at: end == .head ? 0 : chunks.count)
            }
            let target = end == .head ? 0 : chunks.count - 1
            change(target) { $0.insert(element, at: end == .head ? 0 : $0.count) }
            count += 1
        }

        func pop(_ end: End) -> [UInt8] {
            let position = end == .head ? 0 : chunks.count - 1
            var element: [UInt8] = []
            change(position) { element = $0.remove(at: end == .head ? 0 : $0.count - 1) }
            if chunks[position].count == 0 { removeChunk(at: position) }
            count -= 1
            return element
        }

        func replace(at index: Int, with element: UnsafeRawBufferPointer) {
            let (chunk, offset) = locate(index)
            change(chunk) {
                _ = $0.remove(at: offset)
                $0.insert(element, at: offset)
            }
        }

        func insert(_ element: UnsafeRawBufferPointer, at index: Int, limit: ChunkLimit) {
            if index == 0 { return push(element, at: .head, limit: limit) }
            if index == count { return push(element, at: .tail, limit: limit) }
            let (chunk, offset) = locate(index)
            if !chunks[chunk].hasRoom(for: element.count, limit: limit) {
                // Split the full chunk at the insertion point; the element then goes at the end of the first half.
                var tail = Chunk()
                change(chunk) { tail = $0.split(at: offset) }
                insertChunk(tail, at: chunk + 1)
                change(chunk) { $0.insert(element, at: $0.count) }
            } else {
                change(chunk) { $0.insert(element, at: offset) }
            }
            count += 1
        }

        func keep(_ range: Range<Int>) {
            var rebuilt = Storage()
            var position = 0
            let all = chunks
            for chunk in all {
                chunk.forEach(reverse: false) { _, element in
                    if range.contains(position) { rebuilt.append(element) }
                    position += 1
                    return true
                }
            }
            adopt(&rebuilt)
        }

        func remove(atPositions positions: [Int]) {
            var rebuilt = Storage()
            var position = 0
            var next = 0
            let all = chunks
            for chunk in all {
                chunk.forEach(reverse: false) { _, element in
                    if next < positions.count && positions[next] == position {
                        next += 1
                    } else {
                        rebuilt.append(element)
                    }
                    position += 1
                    return true
                }
            }
            adopt(&rebuilt)
        }

        /// Appends in chunks of up to 128 elements (rebuilds only: LTRIM, LREM).
        private func append(_ element: UnsafeRawBufferPointer) {
            if chunks.isEmpty || chunks[chunks.count - 1].count >= 128 { insertChunk(Chunk(), at: chunks.count) }
            change(chunks.count - 1) { $0.insert(element, at: $0.count) }
            count += 1
        }

        private func adopt(_ other: inout Storage) {
            chunks = other.chunks
            count = other.count
            bytes = other.bytes
        }

        func forEach(from start: Int, reverse: Bool, _ body: (Int, UnsafeRawBufferPointer) -> Bool) {
            guard start >= 0, start < count else { return }
            let (first, offset) = locate(start)
            var position = start
            var chunk = first
            var skip = reverse ? chunks[first].count - 1 - offset : offset
            while chunk >= 0 && chunk < chunks.count {
                var stopped = false
                chunks[chunk].forEach(reverse: reverse) { _, element in
                    if skip > 0 {
                        skip -= 1
                        return true
                    }
                    if !body(position, element) {
                        stopped = true
                        return false
                    }
                    position += reverse ? -1 : 1
                    return true
                }
                if stopped { return }
                chunk += reverse ? -1 : 1
            }
        }
    }

    /// A run of elements in one byte array: each `varint length, bytes, length as a reversed varint`.
    struct Chunk: Sendable {
        private(set) var bytes: [UInt8] = []
        private(set) var count = 0

        var allocatedBytes: Int { allocationBytes(bytes.capacity) }

        func hasRoom(for length: Int, limit: ChunkLimit) -> Bool {
            guard count > 0 else { return true }
            switch limit {
            case .elements(let maximum): return count < maximum
            case .bytes(let maximum): return bytes.count + length + 2 * PackedList.varintLength(length) <= maximum
            }
        }

        /// Byte offset of element `index`, scanning from the nearer end.
        private func offset(of index: Int) -> Int {
            bytes.withUnsafeBytes { raw in
                if index <= count / 2 {
                    var position = 0
                    for _ in 0..<index { position = Self.next(raw, position) }
                    return position
                }
                var position = raw.count
                for _ in 0..<(count - index) { position = Self.previous(raw, position) }
                return position
            }
        }

        /// The offset after the element at `position`.
        private static func next(_ raw: UnsafeRawBufferPointer, _ position: Int) -> Int {
            var cursor = position
            let length = PackedList.readVarint(raw, &cursor)
            return cursor + length + PackedList.varintLength(length)
        }

        /// The offset of the element that ends at `end`.
        private static func previous(_ raw: UnsafeRawBufferPointer, _ end: Int) -> Int {
            var cursor = end - 1
            var length = 0
            var shift = 0
            while true {
                let byte = raw[cursor]
                length |= Int(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
                cursor -= 1
            }
            return cursor - length - PackedList.varintLength(length)
        }

        private static func element(_ raw: UnsafeRawBufferPointer, at position: Int) -> UnsafeRawBufferPointer {
            var cursor = position
            let length = PackedList.readVarint(raw, &cursor)
            return UnsafeRawBufferPointer(rebasing: raw[cursor..<(cursor + length)])
        }

        func withElement<R>(at index: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
            let position = offset(of: index)
            return bytes.withUnsafeBytes { body(Self.element($0, at: position)) }
        }

        func forEach(reverse: Bool, _ body: (Int, UnsafeRawBufferPointer) -> Bool) {
            bytes.withUnsafeBytes { raw in
                if reverse {
                    var end = raw.count
                    var index = count - 1
                    while end > 0 {
                        let start = Self.previous(raw, end)
                        if !body(index, Self.element(raw, at: start)) { return }
                        end = start
                        index -= 1
                    }
                } else {
                    var position = 0
                    var index = 0
                    while position < raw.count {
                        if !body(index, Self.element(raw, at: position)) { return }
                        position = Self.next(raw, position)
                        index += 1
                    }
                }
            }
        }

        mutating func insert(_ element: UnsafeRawBufferPointer, at index: Int) {
            let position = index == count ? bytes.count : offset(of: index)
            let lengthBytes = PackedList.varintLength(element.count)
            let total = element.count + 2 * lengthBytes
            // Open a gap (one move of the tail, no temporary arrays), then write length, bytes, length backwards.
            if position == bytes.count {
                bytes.append(contentsOf: repeatElement(0, count: total))
            } else {
                bytes.insert(contentsOf: repeatElement(0, count: total), at: position)
            }
            bytes.withUnsafeMutableBytes { raw in
                let start = raw.baseAddress! + position
                _ = PackedList.writeVarint(element.count, into: start)
                if element.count > 0 {
                    (start + lengthBytes).copyMemory(from: element.baseAddress!, byteCount: element.count)
                }
                // The backward copy: the same varint bytes, last first.
                var value = element.count
                var cursor = start + total - 1
                while true {
                    let more = value >= 0x80
                    cursor.storeBytes(of: UInt8(truncatingIfNeeded: value) | (more ? 0x80 : 0), as: UInt8.self)
                    value >>= 7
                    if !more { break }
                    cursor -= 1
                }
            }
            count += 1
        }

        mutating func remove(at index: Int) -> [UInt8] {
            let position = offset(of: index)
            let (element, end) = bytes.withUnsafeBytes { raw in (Array(Self.element(raw, at: position)), Self.next(raw, position)) }
            bytes.removeSubrange(position..<end)
            count -= 1
            if bytes.capacity > 2 * bytes.count + 64 { bytes = Array(bytes[...]) }
            return element
        }

        /// Moves the elements from `index` on into a new chunk.
        mutating func split(at index: Int) -> Chunk {
            let position = offset(of: index)
            var tail = Chunk()
            tail.bytes = Array(bytes[position...])
            tail.count = count - index
            bytes.removeSubrange(position...)
            count = index
            return tail
        }

        static func appendVarint(_ value: Int, to bytes: inout [UInt8]) {
            var value = value
            while value >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            bytes.append(UInt8(value))
        }
    }
}

/// How big a list chunk may grow: `list-max-listpack-size`, elements when positive, a byte size class when
/// negative (-1: 4 KB ... -5: 64 KB), as Redis.
public enum ChunkLimit: Sendable, Equatable {
    case elements(Int)
    case bytes(Int)

    public init(listMaxListpackSize value: Int) {
        if value > 0 {
            self = .elements(value)
        } else {
            self = .bytes(4096 << min(4, max(0, -value - 1)))
        }
    }
}
