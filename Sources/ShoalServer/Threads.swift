import CShoalPosix
import ShoalPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Starts a named pthread running `body`. The closure travels through `Unmanaged` as the thread's argument;
/// the entry point itself captures nothing.
func startThread(name: String, _ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            cshoal_set_thread_name(String(box.name.prefix(15)))
            box.body()
            return nil
        }, box)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    return thread
}

func joinThread(_ thread: pthread_t) {
    _ = pthread_join(thread, nil)
}

/// Starts a thread nobody joins (the executable's second-signal watcher).
public func startDetachedThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    let thread = startThread(name: "shoal-watch", body)
    return pthread_detach(thread) == 0
}
