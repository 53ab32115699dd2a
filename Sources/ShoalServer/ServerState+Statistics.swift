import ShoalStore

// The server-wide figures INFO reports, summed over the loops' single-writer counters.
extension ServerState {
    func sumStats(_ counter: (LoopStats) -> Int) -> Int { loopStats.reduce(0) { $0 + counter($1) } }

    /// Called by the cron thread every tick: keeps about a second of samples for the ops/sec figure.
    func recordOpsSample() {
        let used = usedMemory
        if used > peakMemory.load(ordering: .relaxed) { peakMemory.store(used, ordering: .relaxed) }
        let sample = OpsSample(
            time: monotonicMicroseconds(), commands: sumStats { $0.commandsProcessed.load(ordering: .relaxed) },
            input: sumStats { $0.netInputBytes.load(ordering: .relaxed) },
            output: sumStats { $0.netOutputBytes.load(ordering: .relaxed) })
        opsSamples.withLock { samples in
            samples.append(sample)
            if samples.count > 16 { samples.removeFirst(samples.count - 16) }
        }
    }

    /// The rate of one sampled counter over the last second or so, per second.
    private func rate(_ value: (OpsSample) -> Int) -> Double {
        opsSamples.withLock { samples in
            guard let first = samples.first, let last = samples.last, last.time > first.time else { return 0 }
            return Double(value(last) - value(first)) * 1_000_000 / Double(last.time - first.time)
        }
    }

    var instantaneousOpsPerSecond: Int { Int(rate { $0.commands }) }
    /// instantaneous_input_kbps / output_kbps, as Redis: KB (1024 bytes) per second, two decimals.
    var instantaneousInputKbps: Double { rate { $0.input } / 1024 }
    var instantaneousOutputKbps: Double { rate { $0.output } / 1024 }
}

/// One cron tick's totals, for the instantaneous rates.
struct OpsSample: Sendable {
    let time: Int64
    let commands: Int
    let input: Int
    let output: Int
}
