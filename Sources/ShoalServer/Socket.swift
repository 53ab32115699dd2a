import CShoalPosix
import ShoalPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Socket addresses and listening sockets.
enum Sockets {
    /// Opens a non-blocking listening socket on `host:port` with SO_REUSEADDR and SO_REUSEPORT, so each event
    /// loop can own a listener on the same port and the kernel spreads new connections across them.
    /// With `reusePort: false` the bind fails when any socket holds the address, even one of another process
    /// that set SO_REUSEPORT; the server probes that way first so two servers never share a port unknowingly.
    static func listen(host: String, port: Int, backlog: Int32, reusePort: Bool = true) throws(SystemError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST
        var info: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host == "*" ? nil : host, String(port), &hints, &info)
        guard rc == 0, let first = info else {
            throw SystemError("getaddrinfo(\(host)): \(String(cString: gai_strerror(rc)))", errno: EINVAL)
        }
        defer { freeaddrinfo(info) }
        let family = first.pointee.ai_family
        let fd = try Syscall.check("socket") {
            socket(
                family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SystemError) {
            var yes: Int32 = 1
            let size = socklen_t(MemoryLayout<Int32>.size)
            try Syscall.check("setsockopt(SO_REUSEADDR)") { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, size) }
            if reusePort {
                try Syscall.check("setsockopt(SO_REUSEPORT)") { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, size) }
            }
            if family == AF_INET6 {
                try Syscall.check("setsockopt(IPV6_V6ONLY)") {
                    setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &yes, size)
                }
            }
            try Syscall.check("bind \(host):\(port)") { bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) }
            try Syscall.check("listen") { Glibc.listen(fd, backlog) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// The port a bound socket ended up on (for `port 0`).
    static func localPort(_ fd: Int32) -> Int { localAddress(fd).port }

    static func localAddress(_ fd: Int32) -> (host: String, port: Int) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return describe(storage)
    }

    /// Host text and port of an IPv4 or IPv6 address.
    static func describe(_ storage: sockaddr_storage) -> (host: String, port: Int) {
        var storage = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var raw = address.pointee.sin_addr
                    inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
                    return (String(cString: text), Int(UInt16(bigEndian: address.pointee.sin_port)))
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
                    return (String(cString: text), Int(UInt16(bigEndian: address.pointee.sin6_port)))
                }
            }
        default:
            return ("?", 0)
        }
    }

    /// True for 127.0.0.0/8 and ::1, the addresses protected mode always admits.
    static func isLoopback(_ host: String) -> Bool {
        host.hasPrefix("127.") || host == "::1" || host.hasPrefix("::ffff:127.")
    }

    /// Formats `host:port` as Redis does in CLIENT LIST (IPv6 without brackets).
    static func format(_ host: String, _ port: Int) -> String { "\(host):\(port)" }

    static func configureClient(_ fd: Int32, keepalive: Int) {
        var yes: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
        if keepalive > 0 { _ = cshoal_set_keepalive(fd, Int32(keepalive)) }
    }
}
