import ShoalStore

// The server-wide figures INFO reports, summed over the loops' single-writer counters.
extension ServerState {
    func sumStats(_ counter: (LoopStats) -> Int) -> Int { loopStats.reduce(0) { $0 + counter($1) } }

    /// Called by the cron thread every tick: keeps about a second of samples for the ops/sec figure.
    func recordOpsSample() {
        let sample = (monotonicMicroseconds(), sumStats { $0.commandsProcessed.load(ordering: .relaxed) })
        opsSamples.withLock { samples in
            samples.append(sample)
            if samples.count > 16 { samples.removeFirst(samples.count - 16) }
        }
    }

    var instantaneousOpsPerSecond: Int {
        opsSamples.withLock { samples in
            guard let first = samples.first, let last = samples.last, last.0 > first.0 else { return 0 }
            return Int(Double(last.1 - first.1) * 1_000_000 / Double(last.0 - first.0))
        }
    }
}
