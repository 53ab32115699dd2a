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

/// Wall-clock microseconds since the Unix epoch (MONITOR's timestamps).
public func currentTimeMicroseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
}

/// Monotonic time in microseconds, for durations and time budgets.
@inline(__always)
public func monotonicMicroseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
}

/// Monotonic time in nanoseconds: command durations (commandstats, latency histograms), lock waits.
@inline(__always)
public func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// A small, fast pseudo-random generator (splitmix64) for sampling: eviction, expiry and RANDOMKEY draw
/// many numbers, and `SystemRandomNumberGenerator` costs a getrandom call per draw. Seeded from the system
/// generator, so it is not predictable from outside. (It also has a real size: a zero-sized generator
/// captured by a closure and passed inout crashes ThreadSanitizer's instrumentation.)
public struct SamplingRandom: RandomNumberGenerator {
    private var state: UInt64

    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    public init(seed: UInt64) { state = seed }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
