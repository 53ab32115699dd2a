#if canImport(Glibc)
    import Glibc
#endif

enum ProcessEnvironment {
    static func value(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}

/// `shoal-server --ping`: connects, authenticates when a password is given, sends PING and expects PONG.
/// Used as the container HEALTHCHECK, so the image needs no redis-cli. Gives up after 3 seconds.
func healthCheck(host: String, port: Int, password: String?) -> Bool {
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var info: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &info) == 0, let address = info else { return false }
    defer { freeaddrinfo(info) }
    let fd = socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 3, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    guard connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else { return false }
    func command(_ words: [String]) -> String {
        "*\(words.count)\r\n" + words.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
    }
    var request = ""
    if let password, !password.isEmpty { request += command(["AUTH", password]) }
    request += command(["PING"])
    let sent = request.withCString { write(fd, $0, strlen($0)) }
    guard sent > 0 else { return false }
    var received = ""
    var buffer = [UInt8](repeating: 0, count: 512)
    while !received.contains("PONG") {
        let count = read(fd, &buffer, buffer.count)
        guard count > 0 else { return false }
        received += String(decoding: buffer[..<count], as: UTF8.self)
        if received.contains("-NOAUTH") || received.contains("-WRONGPASS") || received.contains("-DENIED") {
            return false
        }
    }
    return true
}
