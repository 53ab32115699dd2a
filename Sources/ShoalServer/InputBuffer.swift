#if canImport(Glibc)
    import Glibc
#endif

/// A connection's query buffer: one malloc'd region with a reader and a writer index. Bytes are read from the
/// socket straight into it and commands are parsed in place; unconsumed bytes move to the front only when room
/// is needed, as one block, which keeps the parser's offsets (relative to the command start) valid.
///
/// Only its connection's loop thread touches it: no dynamic exclusivity checks on its indices.
final class InputBuffer {
    @exclusivity(unchecked) private(set) var storage: UnsafeMutableRawPointer
    @exclusivity(unchecked) private(set) var capacity: Int
    @exclusivity(unchecked) private(set) var readerIndex = 0
    @exclusivity(unchecked) private(set) var writerIndex = 0
    static let defaultCapacity = 16 * 1024

    init(capacity: Int = InputBuffer.defaultCapacity) {
        self.capacity = capacity
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    var readableCount: Int { writerIndex - readerIndex }

    var readable: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage + readerIndex, count: writerIndex - readerIndex)
    }

    /// Makes room for at least `count` more bytes after the writer index and returns where to write.
    func reserveWritable(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if capacity - writerIndex < count {
            let live = readableCount
            if readerIndex > 0 && capacity - live >= count {
                if live > 0 { memmove(storage, storage + readerIndex, live) }
            } else {
                var newCapacity = capacity
                while newCapacity - live < count { newCapacity *= 2 }
                let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
                if live > 0 { newStorage.copyMemory(from: storage + readerIndex, byteCount: live) }
                storage.deallocate()
                storage = newStorage
                capacity = newCapacity
            }
            readerIndex = 0
            writerIndex = live
        }
        return UnsafeMutableRawBufferPointer(start: storage + writerIndex, count: capacity - writerIndex)
    }

    func didWrite(_ count: Int) { writerIndex += count }

    func consume(_ count: Int) {
        readerIndex += count
        if readerIndex == writerIndex {
            readerIndex = 0
            writerIndex = 0
        }
    }

    /// Gives back memory after a large request once the buffer is empty (Redis frees idle query buffers too).
    func shrinkIfIdle() {
        guard readableCount == 0, capacity > Self.defaultCapacity * 4 else { return }
        storage.deallocate()
        capacity = Self.defaultCapacity
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        readerIndex = 0
        writerIndex = 0
    }
}
