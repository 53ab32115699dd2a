import CShoalPosix

#if canImport(Glibc)
    import Glibc
#endif

/// A failed system call: what was attempted and the errno it failed with.
public struct SystemError: Error, CustomStringConvertible {
    public let call: String
    public let errno: Int32

    public init(_ call: String, errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

/// The outcome of a non-blocking operation.
public enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}

/// Every syscall on the I/O path goes through here: EINTR is retried, EAGAIN becomes `.wouldBlock`, anything
/// else becomes a `SystemError` naming the call (SwiftNIO's `System.swift` does the same).
public enum Syscall {
    @inlinable @inline(__always)
    public static func read(
        _ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int
    ) throws(SystemError) -> IOResult<Int> {
        try retrying("read") { Glibc.read(fd, buffer, count) }
    }

    @inlinable @inline(__always)
    public static func write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) throws(SystemError) -> IOResult<Int>
    {
        try retrying("write") { Glibc.write(fd, buffer, count) }
    }

    public static func accept(
        _ fd: Int32, _ address: UnsafeMutableRawPointer, _ length: inout UInt32
    )
        throws(SystemError) -> IOResult<Int32>
    {
        var length2 = length
        let result = try retrying("accept4") { Int(cshoal_accept_nonblocking(fd, address, &length2)) }
        length = length2
        switch result {
        case .processed(let value): return .processed(Int32(value))
        case .wouldBlock: return .wouldBlock
        }
    }

    @inlinable @inline(__always)
    public static func retrying(_ call: String, _ body: () -> Int) throws(SystemError) -> IOResult<Int> {
        while true {
            let result = body()
            if result >= 0 { return .processed(result) }
            let error = errno
            switch error {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw SystemError(call, errno: error)
            }
        }
    }

    /// Runs a setup call (socket, bind, setsockopt, epoll_ctl...) and throws on -1, retrying EINTR.
    @discardableResult
    public static func check(_ call: String, _ body: () -> Int32) throws(SystemError) -> Int32 {
        while true {
            let result = body()
            if result >= 0 { return result }
            if errno == EINTR { continue }
            throw SystemError(call)
        }
    }
}

extension Syscall {
    // MARK: - Blocking files (snapshots, logs, /proc): whole buffers, EINTR retried, short counts continued

    /// Writes all of `bytes` to a blocking descriptor.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let written = try check("write") {
                Int32(truncatingIfNeeded: Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset))
            }
            offset += Int(written)
        }
    }

    /// Reads from a blocking descriptor until `buffer` is full or the file ends; returns the bytes read.
    public static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        var offset = 0
        while offset < buffer.count {
            let count = try check("read") {
                Int32(truncatingIfNeeded: Glibc.read(fd, buffer.baseAddress! + offset, buffer.count - offset))
            }
            if count == 0 { break }
            offset += Int(count)
        }
        return offset
    }

    /// Fills `bytes` from a blocking descriptor; returns how many were read (fewer at the end of the file).
    public static func readFully(_ fd: Int32, into bytes: inout [UInt8]) throws(SystemError) -> Int {
        try bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(SystemError) in try readFully(fd, into: buffer) }
        }.get()
    }

    /// Writes all of `bytes` to a blocking descriptor.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        try bytes.withUnsafeBytes { buffer in Result { () throws(SystemError) in try writeAll(fd, buffer) } }.get()
    }

    /// The whole of a blocking descriptor, to its end.
    public static func readToEnd(_ fd: Int32) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try readFully(fd, into: &chunk)
            bytes.append(contentsOf: chunk[..<count])
            if count < chunk.count { return bytes }
        }
    }
}

/// Epoll constants in one namespace.
public enum Epoll {
    public static let input = UInt32(CSHOAL_EPOLLIN)
    public static let output = UInt32(CSHOAL_EPOLLOUT)
    public static let error = UInt32(CSHOAL_EPOLLERR)
    public static let hangup = UInt32(CSHOAL_EPOLLHUP)
    public static let readHangup = UInt32(CSHOAL_EPOLLRDHUP)
    public static let add = Int32(CSHOAL_EPOLL_CTL_ADD)
    public static let modify = Int32(CSHOAL_EPOLL_CTL_MOD)
    public static let delete = Int32(CSHOAL_EPOLL_CTL_DEL)
}
