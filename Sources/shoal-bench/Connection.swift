import RESP

#if canImport(Glibc)
    import Glibc
#endif

/// One blocking connection: send a batch of encoded requests, then read replies one at a time.
final class BenchConnection {
    let fd: Int32
    /// Replies read but not yet parsed: `storage[start..<end]`.
    private var storage = UnsafeMutableRawPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    private var capacity = 64 * 1024
    private var start = 0
    private var end = 0
    /// When the bytes of the last reply returned arrived: the clock is read once per socket read, not once per
    /// reply, as redis-benchmark reads it once per read event.
    private(set) var receivedAt: UInt64 = 0

    init(host: String, port: Int, password: String?) throws(BenchError) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let address = info else {
            throw BenchError("can't resolve \(host)")
        }
        defer { freeaddrinfo(info) }
        fd = socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0, connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else {
            throw BenchError("can't connect to \(host):\(port): \(String(cString: strerror(errno)))")
        }
        var yes: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let password {
            var request: [UInt8] = []
            request.appendCommand(["AUTH", password])
            try send(request)
            if case .error(let text) = try readReply() { throw BenchError("AUTH failed: \(text)") }
        }
    }

    deinit {
        close(fd)
        storage.deallocate()
    }

    func send(_ bytes: [UInt8]) throws(BenchError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw BenchError("write failed: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    /// The next reply, parsed into a value (verify mode, AUTH).
    func readReply() throws(BenchError) -> RESPValue {
        while true {
            if start < end {
                let attempt: Result<(RESPValue, Int)?, ProtocolError> = unread { bytes in
                    do throws(ProtocolError) { return .success(try parseReply(bytes)) } catch { return .failure(error) }
                }
                guard case .success(let parsed) = attempt else { throw BenchError("malformed reply") }
                if let (value, used) = parsed {
                    consume(used)
                    return value
                }
            }
            try fill()
        }
    }

    /// Skips the next reply without building a value: nil when it is not an error, else the error's text. What
    /// a run without --verify reads, so that parsing replies is not what limits the load at pipeline 16.
    func skipReply() throws(BenchError) -> String? {
        while true {
            if start < end {
                let scanned = unread { Self.scan($0, from: 0) }
                switch scanned {
                case .malformed: throw BenchError("malformed reply")
                case .complete(let used, let error):
                    consume(used)
                    return error
                case .incomplete: break
                }
            }
            try fill()
        }
    }

    private enum Scan {
        case complete(used: Int, error: String?)
        case incomplete
        case malformed
    }

    /// Where the reply at `offset` ends (and its text, for an error).
    private static func scan(_ bytes: UnsafeRawBufferPointer, from offset: Int) -> Scan {
        guard offset < bytes.count else { return .incomplete }
        var lineEnd = offset + 1
        while true {
            guard lineEnd + 1 < bytes.count else { return .incomplete }
            if bytes[lineEnd] == 0x0D && bytes[lineEnd + 1] == 0x0A { break }
            lineEnd += 1
        }
        let afterLine = lineEnd + 2
        func number() -> Int? {
            parseInt64(UnsafeRawBufferPointer(rebasing: bytes[(offset + 1)..<lineEnd])).map { Int($0) }
        }
        switch bytes[offset] {
        case UInt8(ascii: "+"), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: ","), UInt8(ascii: "#"):
            return .complete(used: afterLine - offset, error: nil)
        case UInt8(ascii: "-"):
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(offset + 1)..<lineEnd]), as: UTF8.self)
            return .complete(used: afterLine - offset, error: text)
        case UInt8(ascii: "$"):
            guard let length = number() else { return .malformed }
            if length < 0 { return .complete(used: afterLine - offset, error: nil) }
            guard afterLine + length + 2 <= bytes.count else { return .incomplete }
            return .complete(used: afterLine + length + 2 - offset, error: nil)
        case UInt8(ascii: "*"), UInt8(ascii: "%"), UInt8(ascii: "~"):
            guard let count = number() else { return .malformed }
            var position = afterLine
            var firstError: String?
            for _ in 0..<max(0, bytes[offset] == UInt8(ascii: "%") ? count * 2 : count) {
                switch scan(bytes, from: position) {
                case .complete(let used, let error):
                    position += used
                    firstError = firstError ?? error
                case let other: return other
                }
            }
            return .complete(used: position - offset, error: firstError)
        default:
            return .malformed
        }
    }

    private func unread<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(UnsafeRawBufferPointer(start: storage + start, count: end - start))
    }

    private func consume(_ count: Int) {
        start += count
        if start == end {
            start = 0
            end = 0
        }
    }

    /// Reads more from the socket, after moving what is unread to the front (or growing, for a big reply).
    private func fill() throws(BenchError) {
        if start > 0 {
            memmove(storage, storage + start, end - start)
            end -= start
            start = 0
        }
        if capacity - end < 16 * 1024 {
            let grown = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
            grown.copyMemory(from: storage, byteCount: end)
            storage.deallocate()
            storage = grown
            capacity *= 2
        }
        while true {
            let received = read(fd, storage + end, capacity - end)
            if received < 0 && errno == EINTR { continue }
            guard received > 0 else { throw BenchError(received == 0 ? "connection closed by server" : "read failed") }
            end += received
            receivedAt = nanoseconds()
            return
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
