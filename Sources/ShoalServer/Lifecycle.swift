import ShoalPosix

/// How the server is stopped and its loops are woken: what SHUTDOWN calls (the executable turns it into a
/// graceful stop of the process; tests may observe it instead), and one waker per event loop (CLIENT KILL of a
/// client on another loop wakes that loop, which closes it: no thread touches another loop's connections).
final class Lifecycle: Sendable {
    private let shutdownHandler = Locked<(@Sendable (ShutdownRequest) -> Void)?>(nil)
    private let wakers = Locked<[@Sendable () -> Void]>([])

    func setShutdownHandler(_ handler: @escaping @Sendable (ShutdownRequest) -> Void) {
        shutdownHandler.withLock { $0 = handler }
    }

    /// Asks the process to stop; false when nobody installed a handler.
    func requestShutdown(_ request: ShutdownRequest) -> Bool {
        guard let handler = shutdownHandler.withLock({ $0 }) else { return false }
        handler(request)
        return true
    }

    /// Installed by `Server.start`, one per loop, in loop order.
    func installWakers(_ loops: [@Sendable () -> Void]) { wakers.withLock { $0 = loops } }

    func wake(loop index: Int) {
        let all = wakers.withLock { $0 }
        if index < all.count { all[index]() }
    }
}
