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
enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}

/// Every syscall on the I/O path goes through here: EINTR is retried, EAGAIN becomes `.wouldBlock`, anything
/// else becomes a `SystemError` naming the call (SwiftNIO's `System.swift` does the same).
enum Syscall {
    @inline(__always)
    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) throws(SystemError) -> IOResult<Int> {
        try retrying("read") { Glibc.read(fd, buffer, count) }
    }

    @inline(__always)
    static func write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) throws(SystemError) -> IOResult<Int> {
        try retrying("write") { Glibc.write(fd, buffer, count) }
    }

    static func accept(_ fd: Int32, _ address: UnsafeMutableRawPointer, _ length: inout UInt32)
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

    @inline(__always)
    private static func retrying(_ call: String, _ body: () -> Int) throws(SystemError) -> IOResult<Int> {
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
    static func check(_ call: String, _ body: () -> Int32) throws(SystemError) -> Int32 {
        while true {
            let result = body()
            if result >= 0 { return result }
            if errno == EINTR { continue }
            throw SystemError(call)
        }
    }
}

/// Epoll constants in one namespace.
enum Epoll {
    static let input = UInt32(CSHOAL_EPOLLIN)
    static let output = UInt32(CSHOAL_EPOLLOUT)
    static let error = UInt32(CSHOAL_EPOLLERR)
    static let hangup = UInt32(CSHOAL_EPOLLHUP)
    static let readHangup = UInt32(CSHOAL_EPOLLRDHUP)
    static let add = Int32(CSHOAL_EPOLL_CTL_ADD)
    static let modify = Int32(CSHOAL_EPOLL_CTL_MOD)
    static let delete = Int32(CSHOAL_EPOLL_CTL_DEL)
}
