import RESP
import ShoalPosix
import ShoalStore

// LATENCY HISTOGRAM / LATEST / HISTORY / RESET and the latency monitor (Redis's latency.c), from the
// per-loop, per-command histograms of Stats.swift, merged when read.

extension ServerState {
    /// A command's latency histogram over every loop (nil when it never ran).
    func latencyCounts(_ command: Command) -> HistogramCounts? {
        let merged = loopStats.reduce(HistogramCounts()) { $0 + $1.commands[command.statsIndex].latency.snapshot() }
        return merged.total > 0 ? merged : nil
    }

    /// INFO latencystats: `latency_percentiles_usec_<cmd>:p50=...,p99=...,p99.9=...`.
    func latencyStatsFields() -> [(String, String)] {
        let percentiles = config.current.latencyTrackingInfoPercentiles
        return commands.flattened.compactMap { command in
            guard let counts = latencyCounts(command) else { return nil }
            let values = percentiles.map { percentile -> String in
                let nanoseconds = counts.percentile(percentile / 100)
                return "p\(formatPercentile(percentile))=" + String(decoding: cFormat("%.3f", [Double(nanoseconds) / 1000]), as: UTF8.self)
            }
            return ("latency_percentiles_usec_\(command.fullName)", values.joined(separator: ","))
        }
    }
}

/// Redis's fillCommandCDF: buckets doubling from 1024 ns, labelled in microseconds as HdrHistogram's
/// highest-equivalent value (2 significant digits), each with the count of calls at or below it; empty steps
/// are left out.
private func replyCDF(_ out: inout ReplyBuffer, _ counts: HistogramCounts) {
    out.mapHeader(2)
    out.bulk("calls")
    out.integer(counts.total)
    out.bulk("histogram_usec")
    var steps: [(Int, Int)] = []
    var previous = 0
    var bound = 1024
    while previous < counts.total && bound < 1 << 41 {
        let highest = bound + (bound >> 7) - 1
        let cumulative = counts.count(atMost: highest)
        if cumulative > previous { steps.append((highest / 1000, cumulative)) }
        previous = cumulative
        bound <<= 1
    }
    if previous < counts.total { steps.append(((1 << 41) / 1000, counts.total)) }
    out.mapHeader(steps.count)
    for (micros, cumulative) in steps {
        out.integer(micros)
        out.integer(cumulative)
    }
}

func latencyHistogramCommand(_ ctx: CommandContext) throws(CommandError) {
    let server = ctx.server
    var selected: [Command] = []
    if ctx.args.count == 2 {
        selected = server.commands.flattened
    } else {
        for index in 2..<ctx.args.count {
            let name = ctx.args.lowercased(index)
            // A container command names all its subcommands, as Redis.
            if let command = server.commands.flattened.first(where: { $0.fullName == name }) {
                selected += command.subcommands.isEmpty ? [command] : command.subcommands.compactMap { sub in
                    server.commands.flattened.first { $0.fullName == "\(name)|\(sub.name)" }
                }
            }
        }
    }
    let withData = selected.compactMap { command in server.latencyCounts(command).map { (command, $0) } }
    ctx.out.mapHeader(withData.count)
    for (command, counts) in withData {
        ctx.out.bulk(command.fullName)
        replyCDF(&ctx.out, counts)
    }
}

func latencyLatestCommand(_ ctx: CommandContext) throws(CommandError) {
    let events = ctx.server.latencyMonitor.latest()
    ctx.out.arrayHeader(events.count)
    for event in events {
        ctx.out.arrayHeader(4)
        ctx.out.bulk(event.name)
        ctx.out.integer(event.time)
        ctx.out.integer(event.latest)
        ctx.out.integer(event.max)
    }
}

func latencyHistoryCommand(_ ctx: CommandContext) throws(CommandError) {
    let samples = ctx.server.latencyMonitor.history(ctx.args.string(2))
    ctx.out.arrayHeader(samples.count)
    for sample in samples {
        ctx.out.arrayHeader(2)
        ctx.out.integer(sample.time)
        ctx.out.integer(sample.milliseconds)
    }
}

func latencyResetCommand(_ ctx: CommandContext) throws(CommandError) {
    let names = ctx.args.count > 2 ? (2..<ctx.args.count).map { ctx.args.string($0) } : nil
    ctx.out.integer(ctx.server.latencyMonitor.reset(names))
}

/// LATENCY GRAPH event: the event's samples as a column chart, oldest on the left, with the time since each
/// sample written vertically under it (Redis's latency graph, drawn with Shoal's own code).
func latencyGraphCommand(_ ctx: CommandContext) throws(CommandError) {
    let name = ctx.args.string(2)
    let samples = ctx.server.latencyMonitor.history(name)
    guard let allTime = ctx.server.latencyMonitor.latest().first(where: { $0.name == name })?.max, !samples.isEmpty
    else {
        throw CommandError("ERR No samples available for event '\(name)'")
    }
    ctx.out.verbatim(latencyGraph(name, samples, allTimeHigh: allTime, now: Int(ctx.now / 1000)))
}

func latencyGraph(_ name: String, _ samples: [LatencyMonitor.Sample], allTimeHigh: Int, now: Int) -> String {
    let shown = Array(samples.suffix(80))
    let high = shown.map(\.milliseconds).max() ?? 0
    let low = shown.map(\.milliseconds).min() ?? 0
    let rows = 4
    var text = "\(name) - high \(high) ms, low \(low) ms (all time high \(allTimeHigh) ms)\n"
    text += String(repeating: "-", count: 80) + "\n"
    // Each column's height in quarter rows, scaled between the lowest and the highest sample.
    let heights = shown.map { sample -> Int in
        high == low ? rows * 2 : 1 + (sample.milliseconds - low) * (rows * 2 - 1) / max(1, high - low)
    }
    for row in (0..<rows).reversed() {
        var line = ""
        for height in heights {
            let filled = height - row * 2
            line += filled >= 2 ? "|" : filled == 1 ? "_" : " "
        }
        text += line.trimmingTrailingSpaces() + "\n"
    }
    // Age labels: "12s", "3m"..., one character per line under each column.
    let labels = shown.map { sample -> [Character] in
        let age = max(0, now - sample.time)
        let label = age < 60 ? "\(age)s" : age < 3600 ? "\(age / 60)m" : "\(age / 3600)h"
        return Array(label)
    }
    let depth = labels.map(\.count).max() ?? 0
    text += "\n"
    for position in 0..<depth {
        text += String(labels.map { position < $0.count ? $0[position] : " " }).trimmingTrailingSpaces() + "\n"
    }
    return text
}

/// LATENCY DOCTOR: a plain report of every event's latest, average and worst latency, with what usually
/// causes each kind of spike in Shoal and what to do about it.
func latencyDoctorCommand(_ ctx: CommandContext) throws(CommandError) {
    let events = ctx.server.latencyMonitor.latest()
    let threshold = ctx.server.config.current.latencyMonitorThreshold
    var report = ""
    if threshold == 0 {
        report += "The latency monitor is off: set latency-monitor-threshold to a number of milliseconds (for example "
            + "CONFIG SET latency-monitor-threshold 10) to record events slower than that.\n"
    }
    if events.isEmpty {
        report += "No latency event was recorded since the server started"
            + (threshold > 0 ? " (threshold \(threshold) ms).\n" : ".\n")
        ctx.out.verbatim(report)
        return
    }
    report += "Latency events recorded since the server started (threshold \(threshold) ms):\n\n"
    let advice: [String: String] = [
        "command": "Slow commands: see SLOWLOG GET for which ones; commands over big keys (KEYS, SMEMBERS, SORT, "
            + "ZUNIONSTORE on large sets) cost in proportion to their size.",
        "fast-command": "O(1) commands were slow: the machine was busy (other processes, CPU quota) or swapping; "
            + "check the host, and INFO shards for lock waits between writers of the same shards.",
        "expire-cycle": "The active expiry cycle had many keys to reclaim at once: spread deadlines out "
            + "(add jitter to TTLs set together).",
        "eviction-cycle": "Eviction worked hard to get under maxmemory: raise maxmemory or let keys expire sooner.",
        "snapshot-copy": "Writers waited for a snapshot's point-in-time copy: fewer or smaller shards per copy, "
            + "or snapshot less often (save rules).",
    ]
    for (index, event) in events.enumerated() {
        let samples = ctx.server.latencyMonitor.history(event.name)
        let average = samples.isEmpty ? 0 : samples.map(\.milliseconds).reduce(0, +) / samples.count
        report += "\(index + 1). \(event.name): \(samples.count) latency spikes (average \(average)ms, "
            + "worst \(event.max)ms, latest \(event.latest)ms).\n"
        if let text = advice[event.name] { report += "   \(text)\n" }
    }
    ctx.out.verbatim(report)
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }

}

func latencyHelpCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.bulkArray([
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
        "    If no commands are specified then all histograms are replied.",
        "HELP", "    Print this help.",
    ])
}

/// Redis's latency monitor: per event, the last 160 samples over `latency-monitor-threshold` milliseconds,
/// one per second (the worst of that second), and the all-time worst.
final class LatencyMonitor: Sendable {
    struct Sample: Sendable {
        var time: Int
        var milliseconds: Int
    }

    struct Event: Sendable {
        let name: String
        let time: Int
        let latest: Int
        let max: Int
    }

    private struct Series {
        var samples: [Sample] = []
        var max = 0
    }

    private let series = Locked<[String: Series]>([:])

    func add(_ name: String, milliseconds: Int, now: Milliseconds) {
        let second = Int(now / 1000)
        series.withLock { all in
            var entry = all[name] ?? Series()
            if var last = entry.samples.last, last.time == second {
                last.milliseconds = Swift.max(last.milliseconds, milliseconds)
                entry.samples[entry.samples.count - 1] = last
            } else {
                entry.samples.append(Sample(time: second, milliseconds: milliseconds))
                if entry.samples.count > 160 { entry.samples.removeFirst() }
            }
            entry.max = Swift.max(entry.max, milliseconds)
            all[name] = entry
        }
    }

    func latest() -> [Event] {
        series.withLock { all in
            all.keys.sorted().compactMap { name in
                guard let entry = all[name], let last = entry.samples.last else { return nil }
                return Event(name: name, time: last.time, latest: last.milliseconds, max: entry.max)
            }
        }
    }

    /// Adds a sample when it reaches `latency-monitor-threshold` (0: the monitor is off).
    func note(_ name: String, milliseconds: Int, config: ServerConfig) {
        let threshold = config.latencyMonitorThreshold
        guard threshold > 0, milliseconds >= threshold else { return }
        add(name, milliseconds: milliseconds, now: currentTimeMilliseconds())
    }

    func history(_ name: String) -> [Sample] { series.withLock { $0[name]?.samples ?? [] } }

    /// Forgets the named events (every one when nil); returns how many there were.
    func reset(_ names: [String]?) -> Int {
        series.withLock { all in
            guard let names else {
                defer { all.removeAll() }
                return all.count
            }
            return names.reduce(0) { count, name in count + (all.removeValue(forKey: name) != nil ? 1 : 0) }
        }
    }
}

extension ServerState {
    /// Records a latency event when `milliseconds` reaches `latency-monitor-threshold` (0: the monitor is off).
    func noteLatency(_ event: String, milliseconds: Int) {
        latencyMonitor.note(event, milliseconds: milliseconds, config: config.current)
    }
}

let latencyCommands: [Command] = [
    Command(
        "latency", arity: -2, group: "server", summary: "A container for latency diagnostics commands.",
        since: "2.8.13",
        subcommands: [
            Command(
                "histogram", arity: -2, flags: [.admin, .noscript, .loading, .stale], group: "server",
                summary: "Returns the cumulative distribution of latencies of a subset or all commands.",
                since: "7.0.0", complexity: "O(N) where N is the number of commands with latency information being retrieved.",
                handler: latencyHistogramCommand),
            Command(
                "graph", arity: 3, flags: [.admin, .noscript, .loading, .stale], group: "server",
                summary: "Returns a latency graph for an event.", since: "2.8.13", handler: latencyGraphCommand),
            Command(
                "doctor", arity: 2, flags: [.admin, .noscript, .loading, .stale], group: "server",
                summary: "Returns a human-readable latency analysis report.", since: "2.8.13",
                handler: latencyDoctorCommand),
            Command(
                "latest", arity: 2, flags: [.admin, .noscript, .loading, .stale], group: "server",
                summary: "Returns the latest latency samples for all events.", since: "2.8.13",
                handler: latencyLatestCommand),
            Command(
                "history", arity: 3, flags: [.admin, .noscript, .loading, .stale], group: "server",
                summary: "Returns timestamp-latency samples for an event.", since: "2.8.13",
                handler: latencyHistoryCommand),
            Command(
                "reset", arity: -2, flags: [.admin, .noscript, .loading, .stale], group: "server",
                summary: "Resets the latency data for one or more events.", since: "2.8.13",
                handler: latencyResetCommand),
            Command(
                "help", arity: 2, flags: [.loading, .stale], group: "server", summary: "Returns helpful text.",
                since: "2.8.13", handler: latencyHelpCommand),
        ]),
]
