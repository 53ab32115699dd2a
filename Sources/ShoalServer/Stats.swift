import ShoalPosix
import Synchronization

/// Counters owned by one event loop. Only the owning loop adds to them, so `bump` is a relaxed load and
/// store (no locked instruction, no shared cache line between loops); INFO sums them from any thread, and
/// being atomics that read is race-free.
final class LoopStats: Sendable {
    final class CommandCounters: Sendable {
        let calls = Atomic<Int>(0)
        /// Time spent in the command, in nanoseconds (INFO shows microseconds, as Redis).
        let nanoseconds = Atomic<Int>(0)
        let rejected = Atomic<Int>(0)
        let failed = Atomic<Int>(0)
        /// Durations of this command's calls on this loop (LATENCY HISTOGRAM, latencystats, /metrics).
        let latency: LatencyHistogram

        init(latency: LatencyHistogram) { self.latency = latency }
    }

    let commands: [CommandCounters]
    let commandsProcessed = Atomic<Int>(0)
    let keyspaceHits = Atomic<Int>(0)
    let keyspaceMisses = Atomic<Int>(0)
    let netInputBytes = Atomic<Int>(0)
    let netOutputBytes = Atomic<Int>(0)
    let connectionsReceived = Atomic<Int>(0)
    let rejectedConnections = Atomic<Int>(0)
    let errorReplies = Atomic<Int>(0)
    /// Keys changed by writes, for `save <seconds> <changes>` and `rdb_changes_since_last_save`.
    let dirty = Atomic<Int>(0)
    /// Error codes seen (errorstats); rare, so a mutex is fine.
    let errorCodes = Locked<[String: Int]>([:])

    init(commandCount: Int) {
        commands = LatencyHistogram.many(commandCount).map { CommandCounters(latency: $0) }
    }

    func reset() {
        for counters in commands {
            counters.calls.store(0, ordering: .relaxed)
            counters.nanoseconds.store(0, ordering: .relaxed)
            counters.rejected.store(0, ordering: .relaxed)
            counters.failed.store(0, ordering: .relaxed)
            counters.latency.reset()
        }
        commandsProcessed.store(0, ordering: .relaxed)
        keyspaceHits.store(0, ordering: .relaxed)
        keyspaceMisses.store(0, ordering: .relaxed)
        netInputBytes.store(0, ordering: .relaxed)
        netOutputBytes.store(0, ordering: .relaxed)
        connectionsReceived.store(0, ordering: .relaxed)
        rejectedConnections.store(0, ordering: .relaxed)
        errorReplies.store(0, ordering: .relaxed)
        errorCodes.withLock { $0 = [:] }
    }

    func noteError(_ error: CommandError) {
        bump(errorReplies)
        errorCodes.withLock { $0[error.code, default: 0] += 1 }
    }
}

/// Adds to a counter that only the calling thread writes.
@inline(__always)
func bump(_ counter: borrowing Atomic<Int>, by amount: Int = 1) {
    counter.store(counter.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
}
