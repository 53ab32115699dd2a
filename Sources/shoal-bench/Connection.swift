import RESP

#if canImport(Glibc)
    import Glibc
#endif

/// One blocking connection: send a batch of encoded requests, then read replies one at a time.
final class BenchConnection {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0

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
        buffer.reserveCapacity(64 * 1024)
        if let password {
            var request: [UInt8] = []
            request.appendCommand(["AUTH", password])
            try send(request)
            if case .error(let text) = try readReply() { throw BenchError("AUTH failed: \(text)") }
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws(BenchError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw BenchError("write failed: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    func readReply() throws(BenchError) -> RESPValue {
        while true {
            if start < buffer.count {
                let attempt: Result<(RESPValue, Int)?, ProtocolError> = buffer.withUnsafeBytes { bytes in
                    do throws(ProtocolError) {
                        return .success(try parseReply(UnsafeRawBufferPointer(rebasing: bytes[start...])))
                    } catch {
                        return .failure(error)
                    }
                }
                guard case .success(let parsed) = attempt else { throw BenchError("malformed reply") }
                if let (value, used) = parsed {
                    start += used
                    if start == buffer.count {
                        buffer.removeAll(keepingCapacity: true)
                        start = 0
                    }
                    return value
                }
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let count = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: 64 * 1024))
            let received = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, 64 * 1024) }
            buffer.removeLast(64 * 1024 - max(0, received))
            if received < 0 && errno == EINTR { continue }
            guard received > 0 else { throw BenchError(received == 0 ? "connection closed by server" : "read failed") }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
