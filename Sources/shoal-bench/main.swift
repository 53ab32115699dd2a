import Foundation
import Histogram
import RESP

// shoal-bench: a load generator for any Redis-protocol server (see Options.usage).
//
// Each thread owns a share of the connections and drives them in lockstep: it sends a pipelined batch on every
// connection, then reads every reply, so all connections have requests in flight at once. A request's latency
// runs from the moment its batch was sent to the moment its reply was parsed.

let options: Options
do throws(UsageError) {
    options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    // --help is an answer (stdout, exit 0); a usage error is an error (stderr, exit 2).
    if error.message.isEmpty {
        FileHandle.standardOutput.write(Data((Options.usage + "\n").utf8))
        exit(0)
    }
    FileHandle.standardError.write(Data(("shoal-bench: \(error.message)\n\n" + Options.usage + "\n").utf8))
    exit(2)
}

/// What one thread measured; merged at the end.
final class ThreadResult: @unchecked Sendable {
    var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    var errors: [String: Int] = [:]
    var completed = 0
}

/// Counters the progress line reads while the threads run.
final class Shared: @unchecked Sendable {
    private let lock = NSLock()
    private var done = 0
    private var measuring = false
    private var stop = false

    func add(_ count: Int) {
        lock.lock()
        done += count
        lock.unlock()
    }
    var completed: Int {
        lock.lock()
        defer { lock.unlock() }
        return done
    }
    var isMeasuring: Bool {
        lock.lock()
        defer { lock.unlock() }
        return measuring
    }
    var shouldStop: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stop
    }
    func startMeasuring() {
        lock.lock()
        measuring = true
        done = 0
        lock.unlock()
    }
    func requestStop() {
        lock.lock()
        stop = true
        lock.unlock()
    }
}

func nanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

let workload = Workload(options: options)
if options.inProcess {
    StoreBench.report(StoreBench.run(options, workload: workload), options)
    exit(0)
}
let shared = Shared()
let results = (0..<options.threads).map { _ in ThreadResult() }
let totalRequests = options.requests
let perThreadConnections = (0..<options.threads).map { index in
    options.connections / options.threads + (index < options.connections % options.threads ? 1 : 0)
}
// A request budget per thread, so the total is exact.
let budgets: [Int?] = (0..<options.threads).map { index in
    guard let total = totalRequests else { return nil }
    let share = total * perThreadConnections[index] / options.connections
    return index == 0
        ? total - (1..<options.threads).reduce(0) { $0 + total * perThreadConnections[$1] / options.connections }
        : share
}

let group = DispatchGroup()
/// The first connection failure, if any (set by a thread, read after all have finished).
final class StartupFailure: @unchecked Sendable {
    private let lock = NSLock()
    private var message: String?
    func set(_ text: String) {
        lock.lock()
        if message == nil { message = text }
        lock.unlock()
    }
    var value: String? {
        lock.lock()
        defer { lock.unlock() }
        return message
    }
}
let startupFailure = StartupFailure()
for index in 0..<options.threads {
    group.enter()
    let thread = Thread {
        defer { group.leave() }
        let result = results[index]
        var connections: [BenchConnection] = []
        do throws(BenchError) {
            for _ in 0..<perThreadConnections[index] {
                connections.append(
                    try BenchConnection(host: options.host, port: options.port, password: options.password))
            }
        } catch {
            startupFailure.set(error.description)
            return
        }
        var generator = SystemRandomNumberGenerator()
        var seed = generator.next()
        var random = SplitMix(state: &seed)
        var remaining = budgets[index]
        var expectations: [[Expectation]] = Array(repeating: [], count: connections.count)
        var batch: [UInt8] = []
        while !shared.shouldStop && (remaining ?? 1) > 0 {
            let measuring = shared.isMeasuring
            var inFlight = 0
            let sentAt = nanoseconds()
            for (position, connection) in connections.enumerated() {
                let size = remaining.map { min(options.pipeline, $0 - inFlight) } ?? options.pipeline
                guard size > 0 else { break }
                batch.removeAll(keepingCapacity: true)
                expectations[position].removeAll(keepingCapacity: true)
                for _ in 0..<size { workload.encode(into: &batch, expecting: &expectations[position], using: &random) }
                do throws(BenchError) { try connection.send(batch) } catch {
                    result.errors["connection", default: 0] += 1
                    shared.requestStop()
                    return
                }
                inFlight += expectations[position].count
            }
            for (position, connection) in connections.enumerated() where !expectations[position].isEmpty {
                for expectation in expectations[position] {
                    // Without --verify a reply is skipped unparsed (only an error's text is kept), so that
                    // reading replies is not what limits the load at pipeline 16.
                    let reply: RESPValue?
                    let error: String?
                    do throws(BenchError) {
                        if options.verify {
                            reply = try connection.readReply()
                            if case .error(let text) = reply { error = text } else { error = nil }
                        } else {
                            reply = nil
                            error = try connection.skipReply()
                        }
                    } catch {
                        result.errors["connection", default: 0] += 1
                        shared.requestStop()
                        return
                    }
                    if measuring {
                        _ = result.histogram.record(max(1, (connection.receivedAt &- sentAt) / 1000))
                        if let error {
                            result.errors[String(error.prefix { $0 != " " }), default: 0] += 1
                        } else if let reply, !check(reply, expectation) {
                            result.errors["verify", default: 0] += 1
                        }
                    }
                }
                expectations[position].removeAll(keepingCapacity: true)
            }
            if measuring {
                result.completed += inFlight
                shared.add(inFlight)
                if remaining != nil { remaining! -= inFlight }
            }
        }
    }
    thread.stackSize = 1 << 20
    thread.start()
}

/// Is `reply` what a correct server answers?
func check(_ reply: RESPValue, _ expectation: Expectation) -> Bool {
    switch (expectation, reply) {
    case (.ok, .simple("OK")), (.integer, .integer), (.value, .null), (.queued, .simple("QUEUED")): return true
    case (.okArray(let count), .array(let replies)):
        return replies.count == count && replies.allSatisfy { $0 == .simple("OK") }
    case (.value(let key), .bulk(let bytes)): return bytes == workload.value(for: key)
    default: return false
    }
}

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(state: inout UInt64) { self.state = state }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// Warm-up, then measure, printing progress once a second.
let interactive = isatty(STDERR_FILENO) == 1
func progress(_ text: String, final: Bool = false) {
    guard !options.quiet else { return }
    FileHandle.standardError.write(Data((interactive ? "\r\(text)\u{1B}[K" + (final ? "\n" : "") : text + "\n").utf8))
}
if options.warmup > 0 {
    Thread.sleep(forTimeInterval: options.warmup)
}
shared.startMeasuring()
let started = nanoseconds()
var lastDone = 0
var lastTime = started
while group.wait(timeout: .now() + 1.0) == .timedOut {
    let now = nanoseconds()
    let done = shared.completed
    let rate = Double(done - lastDone) / (Double(now - lastTime) / 1e9)
    progress(
        String(
            format: "%@%.1fs  %d requests  %.0f req/s", options.label.isEmpty ? "" : options.label + "  ",
            Double(now - started) / 1e9, done, rate))
    lastDone = done
    lastTime = now
    if let duration = options.duration, Double(now - started) / 1e9 >= duration { shared.requestStop() }
}
let elapsed = Double(nanoseconds() - started) / 1e9
if let startupError = startupFailure.value {
    FileHandle.standardError.write(Data("shoal-bench: \(startupError)\n".utf8))
    exit(1)
}

// Report.
var histogram = results[0].histogram
for result in results.dropFirst() { histogram.add(result.histogram) }
var errors: [String: Int] = [:]
for result in results { for (kind, count) in result.errors { errors[kind, default: 0] += count } }
let completed = results.reduce(0) { $0 + $1.completed }
let throughput = Double(completed) / elapsed
func ms(_ microseconds: UInt64) -> Double { Double(microseconds) / 1000 }
let percentiles: [(String, Double)] =
    [("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)].map {
        ($0.0, ms(histogram.valueAtPercentile($0.1)))
    } + [("max", ms(histogram.max))]
let errorTotal = errors.values.reduce(0, +)
let mix = options.mix.map { "\($0.0.rawValue)=\($0.1)" }.joined(separator: ",")
progress(String(format: "%.1fs  %d requests  done", elapsed, completed), final: true)
if options.csv {
    print(
        "label,mix,connections,pipeline,requests,seconds,rps," + percentiles.map { "\($0.0)_ms" }.joined(separator: ",")
            + ",errors")
    print(
        "\"\(options.label)\",\"\(mix)\",\(options.connections),\(options.pipeline),\(completed),"
            + String(format: "%.3f,%.1f,", elapsed, throughput)
            + percentiles.map { String(format: "%.3f", $0.1) }.joined(separator: ",") + ",\(errorTotal)")
} else if options.json {
    let object: [String: Any] = [
        "label": options.label, "mix": mix, "connections": options.connections, "pipeline": options.pipeline,
        "requests": completed, "seconds": elapsed, "rps": throughput,
        "latency_ms": Dictionary(uniqueKeysWithValues: percentiles), "errors": errors,
    ]
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
} else {
    print(
        """
        \(options.label.isEmpty ? "" : options.label + ": ")\(completed) requests in \(String(format: "%.2f", elapsed)) s \
        (\(mix), \(options.connections) connections, pipeline \(options.pipeline), \(options.keyspace) keys\
        \(options.zipf.map { ", zipf \($0)" } ?? ""), \(options.valueSize)-byte values)
          throughput: \(String(format: "%.0f", throughput)) requests/s
          latency ms: \(percentiles.map { "\($0.0) \(String(format: "%.3f", $0.1))" }.joined(separator: "  "))
          errors: \(errorTotal == 0 ? "none" : errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        """)
}
exit(errorTotal == 0 ? 0 : 3)
