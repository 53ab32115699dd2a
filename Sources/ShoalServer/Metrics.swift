import CShoalPosix
import ShoalPosix
import ShoalStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// The Prometheus endpoint: `GET /metrics` on `metrics-port`, in the text exposition format, with
// redis_exporter's metric names (so its dashboards work) and Shoal's own `shoal_*` histograms.

extension ServerState {
    /// The exposition: every family with HELP and TYPE, counters ending in `_total`.
    public func prometheusMetrics() -> String {
        var text = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            guard !samples.isEmpty else { return }
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { text += "\(name)\(sample.labels) \(sample.value)\n" }
        }
        func single(_ name: String, _ type: String, _ help: String, _ value: Int) {
            family(name, type, help, [("", String(value))])
        }
        func seconds(_ microseconds: Int) -> String { formatSeconds(Double(microseconds) / 1e6) }
        let config = self.config.current
        let store = Store(live: keyspace)
        single("redis_up", "gauge", "Whether the server answers (always 1 when scraped).", 1)
        single("redis_uptime_in_seconds", "gauge", "Seconds since the server started.",
               Int(currentTimeMilliseconds() - startedAt) / 1000)
        single("redis_connected_clients", "gauge", "Client connections open now.", connectedClients.load(ordering: .relaxed))
        single("redis_blocked_clients", "gauge", "Clients waiting in a blocking command.", blocking.count)
        single("redis_tracking_clients", "gauge", "Clients with CLIENT TRACKING on.", tracking.clientCount)
        single("redis_memory_used_bytes", "gauge", "used_memory: heap at start plus the dataset.", usedMemory)
        single("redis_memory_used_rss_bytes", "gauge", "Resident set size of the process.", residentSetSize())
        single("redis_memory_max_bytes", "gauge", "maxmemory (0: no limit).", config.maxmemory)
        single("redis_commands_processed_total", "counter", "Commands processed.",
               sumStats { $0.commandsProcessed.load(ordering: .relaxed) })
        single("redis_connections_received_total", "counter", "Connections accepted.",
               sumStats { $0.connectionsReceived.load(ordering: .relaxed) })
        single("redis_rejected_connections_total", "counter", "Connections refused (maxclients, protected mode).",
               sumStats { $0.rejectedConnections.load(ordering: .relaxed) })
        single("redis_net_input_bytes_total", "counter", "Bytes read from clients.",
               sumStats { $0.netInputBytes.load(ordering: .relaxed) })
        single("redis_net_output_bytes_total", "counter", "Bytes written to clients.",
               sumStats { $0.netOutputBytes.load(ordering: .relaxed) })
        single("redis_keyspace_hits_total", "counter", "Key lookups that found the key.",
               sumStats { $0.keyspaceHits.load(ordering: .relaxed) })
        single("redis_keyspace_misses_total", "counter", "Key lookups that found nothing.",
               sumStats { $0.keyspaceMisses.load(ordering: .relaxed) })
        single("redis_expired_keys_total", "counter", "Keys removed because their deadline passed.", store.expiredKeyCount())
        single("redis_evicted_keys_total", "counter", "Keys evicted under maxmemory.", keyspace.evictedKeyCount)
        let pubsubCounts = pubsub.counts
        single("redis_pubsub_channels", "gauge", "Channels with at least one subscriber.", pubsubCounts.channels)
        single("redis_pubsub_patterns", "gauge", "Patterns with at least one subscriber.", pubsubCounts.patterns)
        single("redis_rdb_changes_since_last_save", "gauge", "Changes since the last snapshot.",
               snapshots.changesSinceLastSave)
        single("redis_rdb_last_save_timestamp_seconds", "gauge", "When the last snapshot was written (Unix time).",
               Int(snapshots.lastSaveTime.load(ordering: .relaxed)))
        let counts = store.keyCounts().enumerated().filter { $0.element.keys > 0 }
        family("redis_db_keys", "gauge", "Keys per database.", counts.map { ("{db=\"db\($0.offset)\"}", String($0.element.keys)) })
        family("redis_db_keys_expiring", "gauge", "Keys with a deadline per database.",
               counts.map { ("{db=\"db\($0.offset)\"}", String($0.element.volatile)) })
        // Per command, as redis_exporter names them (commandstats).
        var calls: [(String, String)] = []
        var durations: [(String, String)] = []
        var failed: [(String, String)] = []
        var rejected: [(String, String)] = []
        var latency: [(String, String)] = []
        for command in commands.flattened {
            let index = command.statsIndex
            let callCount = sumStats { $0.commands[index].calls.load(ordering: .relaxed) }
            let rejectedCount = sumStats { $0.commands[index].rejected.load(ordering: .relaxed) }
            guard callCount + rejectedCount > 0 else { continue }
            let label = "{cmd=\"\(command.fullName)\"}"
            let micros = sumStats { $0.commands[index].nanoseconds.load(ordering: .relaxed) } / 1000
            calls.append((label, String(callCount)))
            durations.append((label, seconds(micros)))
            failed.append((label, String(sumStats { $0.commands[index].failed.load(ordering: .relaxed) })))
            rejected.append((label, String(rejectedCount)))
            if let histogram = latencyCounts(command) {
                latency += histogramSamples(histogram, labels: "cmd=\"\(command.fullName)\"", sumSeconds: Double(micros) / 1e6)
            }
        }
        family("redis_commands_total", "counter", "Calls per command.", calls)
        family("redis_commands_duration_seconds_total", "counter", "Time spent in each command.", durations)
        family("redis_commands_failed_calls_total", "counter", "Calls that answered an error.", failed)
        family("redis_commands_rejected_calls_total", "counter", "Calls refused before running.", rejected)
        var errors: [String: Int] = [:]
        for stats in loopStats { stats.errorCodes.withLock { for (code, count) in $0 { errors[code, default: 0] += count } } }
        family("redis_errors_total", "counter", "Error replies by error prefix.",
               errors.keys.sorted().map { ("{err=\"\($0)\"}", String(errors[$0]!)) })
        family("shoal_command_latency_seconds", "histogram", "Command execution time, per command.", latency)
        let readers = keyspace.lockWaits.readers.snapshot()
        let writers = keyspace.lockWaits.writers.snapshot()
        family("shoal_shard_lock_wait_seconds", "histogram",
               "How long readers and writers waited for a shard lock (contended acquisitions only).",
               histogramSamples(readers, labels: "mode=\"read\"", sumSeconds: nil)
                   + histogramSamples(writers, labels: "mode=\"write\"", sumSeconds: nil))
        let snapshot = snapshots.status.withLock { $0 }
        family("shoal_snapshot_last_writer_pause_seconds", "gauge", "Writers' pause for the last snapshot's copy.",
               [("", seconds(Int(snapshot.lastPauseMicroseconds)))])
        family("shoal_snapshot_last_duration_seconds", "gauge", "How long the last snapshot took.",
               [("", seconds(Int(snapshot.lastStats.microseconds)))])
        return text
    }

    /// `_bucket` samples at 1.024 µs doubling to about 1 s, `+Inf`, `_sum` and `_count`, for one label set. The
    /// sum is the exact one when known, else estimated from the buckets' midpoints.
    private func histogramSamples(_ counts: HistogramCounts, labels: String, sumSeconds: Double?) -> [(String, String)] {
        var samples: [(String, String)] = []
        var bound = 1024
        while bound <= 1 << 30 {
            let le = formatSeconds(Double(bound) / 1e9)
            samples.append(("_bucket{\(labels),le=\"\(le)\"}", String(counts.count(atMost: bound - 1))))
            bound <<= 1
        }
        samples.append(("_bucket{\(labels),le=\"+Inf\"}", String(counts.total)))
        let sum = sumSeconds ?? counts.buckets.enumerated().reduce(0.0) { total, entry in
            let middle = Double(LatencyHistogram.lowerBound(of: entry.offset) + LatencyHistogram.upperBound(of: entry.offset)) / 2
            return total + Double(entry.element) * middle / 1e9
        }
        samples.append(("_sum{\(labels)}", formatSeconds(sum)))
        samples.append(("_count{\(labels)}", String(counts.total)))
        return samples
    }
}

/// A number of seconds as Prometheus reads it (`%.9g`).
func formatSeconds(_ value: Double) -> String { String(decoding: cFormat("%.9g", [value]), as: UTF8.self) }

/// The HTTP responder for `/metrics`: one thread, blocking I/O per request (scrapes are rare and small).
final class MetricsServer: @unchecked Sendable {
    private let state: ServerState
    private var listeners: [Int32] = []
    private let stopping = Atomic<Bool>(false)
    private var thread: pthread_t?

    init(state: ServerState) { self.state = state }

    /// Listens on every bind address at `port`; throws like the server's own bind.
    func start(port: Int, bind: [String]) throws(SystemError) {
        for var host in bind {
            let optional = host.hasPrefix("-")
            if optional { host.removeFirst() }
            do throws(SystemError) {
                listeners.append(try Sockets.listen(host: host, port: port, backlog: 64, reusePort: false))
            } catch {
                if optional { continue }
                for fd in listeners { close(fd) }
                listeners = []
                throw error
            }
        }
        let fds = listeners
        thread = startThread(name: "shoal-metrics") { [self] in self.serve(fds) }
        state.logger.notice("Metrics at http://\(bind.first.map { $0.hasPrefix("-") ? String($0.dropFirst()) : $0 } ?? "*"):\(port)/metrics")
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        if let thread { joinThread(thread) }
        thread = nil
        for fd in listeners { close(fd) }
        listeners = []
    }

    private func serve(_ fds: [Int32]) {
        var polled = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        while !stopping.load(ordering: .relaxed) {
            guard poll(&polled, nfds_t(polled.count), 200) > 0 else { continue }
            for entry in polled where entry.revents & Int16(POLLIN) != 0 {
                let client = accept(entry.fd, nil, nil)  // blocking (not inherited from the listener), timeouts set below
                guard client >= 0 else { continue }
                respond(client)
                close(client)
            }
        }
    }

    private func respond(_ fd: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while request.count < 16384 {
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else { break }
            request += chunk[..<count]
            if request.count >= 4, request.suffix(4).elementsEqual([13, 10, 13, 10]) { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let status: String
        var body: String
        var type = "text/plain; charset=utf-8"
        if line.count >= 2 && line[0] == "GET" && (line[1] == "/metrics" || line[1].hasPrefix("/metrics?")) {
            status = "200 OK"
            body = state.prometheusMetrics()
            type = "text/plain; version=0.0.4; charset=utf-8"
        } else if line.count >= 2 && line[0] != "GET" {
            status = "405 Method Not Allowed"
            body = "only GET /metrics\n"
        } else {
            status = "404 Not Found"
            body = "see /metrics\n"
        }
        var response = Array("HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n".utf8)
        response += Array(body.utf8)
        var offset = 0
        while offset < response.count {
            let written = response.withUnsafeBytes { write(fd, $0.baseAddress! + offset, response.count - offset) }
            guard written > 0 else { return }
            offset += written
        }
        body = ""
    }
}
