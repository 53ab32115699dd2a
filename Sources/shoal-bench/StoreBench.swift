import Foundation
import ShoalStore
import Synchronization

// `shoal-bench --in-process`: the same key distribution and GET/SET mix, run straight against a `Keyspace` in
// this process, no sockets, to measure what the store itself costs and how it scales with threads: operations
// per second per thread, and how often and how long shard locks made a thread wait (the lock counts the
// wait only when its try-lock fails, so an uncontended run reads no clock in the lock).
//
// Each thread draws its whole sequence of (operation, key) before the clock starts, so the Zipf sampler's
// binary search is not measured, and then loops over it until the duration is up.

struct StoreBenchReport {
    var threads: Int
    var seconds: Double
    var operations: [Int]
    var contended: Int
    var waitedNanoseconds: Int
    var worstShardWaitedNanoseconds: Int
    var busiestShardShare: Double
}

/// What the threads and the timer share: the stop flag, and each thread's count once it has stopped.
private final class StoreBenchState: Sendable {
    let stop = Atomic<Bool>(false)
    let counts: Mutex<[Int]>
    init(threads: Int) { counts = Mutex([Int](repeating: 0, count: threads)) }
}

enum StoreBench {
    /// Operations drawn ahead per thread (a power of two, so the loop wraps with a mask).
    static let sequenceLength = 1 << 20

    static func run(_ options: Options, workload: Workload) -> StoreBenchReport {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: options.shards)
        let names = (0..<options.keyspace).map { Workload.keyName($0) }
        let values = (0..<options.keyspace).map { workload.value(for: $0) }
        let now = currentTimeMilliseconds()
        for key in 0..<options.keyspace {
            names[key].withUnsafeBytes { raw in
                let view = KeyView(raw)
                values[key].withUnsafeBytes { bytes in
                    _ = keyspace.write(0, view) { $0.setString(view, bytes, now: now) }
                }
            }
        }
        // Start from zero: the load above ran on this thread alone.
        keyspace.resetStatistics()

        let state = StoreBenchState(threads: options.threads)
        let ready = DispatchGroup()
        let finished = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        for index in 0..<options.threads {
            ready.enter()
            finished.enter()
            let thread = Thread {
                var seed = UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
                var random = SplitMix(state: &seed)
                var reads = [Bool](repeating: false, count: sequenceLength)
                var keys = [Int](repeating: 0, count: sequenceLength)
                for position in 0..<sequenceLength {
                    reads[position] = workload.operation(using: &random) == .get
                    keys[position] = workload.key(using: &random)
                }
                ready.leave()
                start.wait()
                var done = 0
                var copied = 0
                var position = 0
                while true {
                    if done & 1023 == 0, state.stop.load(ordering: .relaxed) { break }
                    let key = keys[position]
                    names[key].withUnsafeBytes { raw in
                        let view = KeyView(raw)
                        if reads[position] {
                            copied &+= keyspace.read(0, view) { table in
                                guard let found = table.lookup(view, now: now) else { return 0 }
                                return table.withStringBytes(at: found) { $0.count }
                            }
                        } else {
                            values[key].withUnsafeBytes { bytes in
                                _ = keyspace.write(0, view) { $0.setString(view, bytes, now: now) }
                            }
                        }
                    }
                    done += 1
                    position = (position + 1) & (sequenceLength - 1)
                }
                state.counts.withLock { $0[index] = done }
                precondition(copied >= 0)
                finished.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        ready.wait()
        let started = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<options.threads { start.signal() }
        Thread.sleep(forTimeInterval: options.duration ?? 3)
        state.stop.store(true, ordering: .relaxed)
        finished.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9

        let contention = keyspace.shardContention()
        let waited = contention.reduce(0) { $0 + $1.waitedNanoseconds }
        return StoreBenchReport(
            threads: options.threads, seconds: seconds, operations: state.counts.withLock { $0 },
            contended: contention.reduce(0) { $0 + $1.contended }, waitedNanoseconds: waited,
            worstShardWaitedNanoseconds: contention.map(\.waitedNanoseconds).max() ?? 0,
            busiestShardShare: waited == 0 ? 0 : Double(contention.map(\.waitedNanoseconds).max() ?? 0) / Double(waited))
    }

    static func report(_ result: StoreBenchReport, _ options: Options) {
        let total = result.operations.reduce(0, +)
        let rate = Double(total) / result.seconds
        let mix = options.mix.map { "\($0.0.rawValue)=\($0.1)" }.joined(separator: ",")
        let waitedShare = Double(result.waitedNanoseconds) / (result.seconds * 1e9 * Double(result.threads))
        if options.json {
            let object: [String: Any] = [
                "label": options.label, "mix": mix, "threads": result.threads, "shards": options.shards,
                "keyspace": options.keyspace, "distribution": options.zipf.map { "zipf:\($0)" } ?? "uniform",
                "seconds": result.seconds, "operations": total, "ops_per_second": rate,
                "ops_per_second_per_thread": result.operations.map { Double($0) / result.seconds },
                "contended_acquisitions": result.contended,
                "contended_share": Double(result.contended) / Double(max(total, 1)),
                "lock_wait_ns_total": result.waitedNanoseconds,
                "lock_wait_ns_per_op": Double(result.waitedNanoseconds) / Double(max(total, 1)),
                "lock_wait_share_of_thread_time": waitedShare,
                "worst_shard_wait_ns": result.worstShardWaitedNanoseconds,
                "worst_shard_share_of_wait": result.busiestShardShare,
            ]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(
            """
            \(options.label.isEmpty ? "" : options.label + ": ")in-process store, \(result.threads) thread(s), \
            \(options.shards) shards, \(options.keyspace) keys\(options.zipf.map { ", zipf \($0)" } ?? ", uniform"), \
            \(mix), \(options.valueSize)-byte values
              throughput: \(String(format: "%.0f", rate)) ops/s (\(result.operations.map { String(format: "%.0f", Double($0) / result.seconds) }.joined(separator: ", ")) per thread)
              lock waits: \(result.contended) contended acquisitions (\(String(format: "%.4f", Double(result.contended) / Double(max(total, 1))))/op), \
            \(String(format: "%.1f", Double(result.waitedNanoseconds) / Double(max(total, 1)))) ns/op, \
            \(String(format: "%.2f", waitedShare * 100))% of thread time; worst shard \
            \(String(format: "%.1f", Double(result.worstShardWaitedNanoseconds) / 1e6)) ms \
            (\(String(format: "%.0f", result.busiestShardShare * 100))% of all waiting)
            """)
    }
}
