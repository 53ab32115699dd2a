#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock time in milliseconds. Expiry deadlines are absolute wall-clock times, as in Redis, so they mean
/// the same thing after a restart from a snapshot.
@inline(__always)
public func currentTimeMilliseconds() -> Milliseconds {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// Monotonic time in microseconds, for durations and time budgets.
@inline(__always)
public func monotonicMicroseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
}

@inline(__always)
func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}
