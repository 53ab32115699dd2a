import CShoalPosix
import ShoalPosix
import ShoalStore

#if canImport(Glibc)
    import Glibc
#endif

/// INFO, with Redis's section and field names so that tools that parse INFO keep working.
extension ServerState {
    static let defaultInfoSections = [
        "server", "clients", "memory", "persistence", "stats", "replication", "cpu",
        "modules", "errorstats", "cluster", "keyspace",
    ]
    /// Every section, in Redis 7.0's order, with Shoal's own `shards` last.
    static let allInfoSections = [
        "server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules", "commandstats",
        "errorstats", "latencystats", "cluster", "keyspace", "shards",
    ]

    /// `store`: how the keyspace figures are read (pre-locked inside EXEC, which holds every shard for INFO).
    /// Several sections may be asked for at once (`INFO default latencystats`), as Redis 7.
    func info(sections requested: [String], store: Store? = nil) -> String {
        let store = store ?? Store(live: keyspace)
        var named = Set(requested)
        if requested.isEmpty || named.contains("default") { named.formUnion(Self.defaultInfoSections) }
        if named.contains("all") || named.contains("everything") { named.formUnion(Self.allInfoSections) }
        let wanted = Self.allInfoSections.filter { named.contains($0) }
        var parts: [String] = []
        for section in wanted {
            let lines = infoSection(section, store: store)
            guard let lines else { continue }
            let title = section.prefix(1).uppercased() + section.dropFirst()
            parts.append("# \(title)\r\n" + lines.map { "\($0.0):\($0.1)\r\n" }.joined())
        }
        return parts.joined(separator: "\r\n")
    }

    private func infoSection(_ name: String, store: Store) -> [(String, String)]? {
        let config = self.config.current
        switch name {
        case "server":
            var names = utsname()
            uname(&names)
            let system = withUnsafeBytes(of: &names.sysname) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            let release = withUnsafeBytes(of: &names.release) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            let machine = withUnsafeBytes(of: &names.machine) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            let uptime = (monotonicMicroseconds() - startedMonotonic) / 1_000_000
            return [
                ("redis_version", redisCompatibilityVersion), ("shoal_version", shoalVersion),
                ("redis_git_sha1", "00000000"), ("redis_git_dirty", "0"), ("redis_build_id", "0"),
                ("redis_mode", "standalone"),
                ("os", "\(system) \(release) \(machine)"), ("arch_bits", "64"), ("multiplexing_api", "epoll"),
                ("atomicvar_api", "c11-builtin"), ("gcc_version", "0.0.0"), ("process_supervised", "no"),
                ("monotonic_clock", "POSIX clock_gettime"),
                ("lru_clock", String((currentTimeMilliseconds() / 1000) & ((1 << 24) - 1))),
                ("process_id", String(getpid())), ("run_id", runID),
                ("tcp_port", String(tcpPort.load(ordering: .relaxed))),
                ("server_time_usec", String(currentTimeMilliseconds() * 1000)),
                ("uptime_in_seconds", String(uptime)), ("uptime_in_days", String(uptime / 86400)),
                ("hz", String(config.hz)), ("configured_hz", String(config.hz)),
                ("io_threads_active", String(ioThreads)), ("shards", String(keyspace.shardsPerDatabase)),
                ("executable", CommandLine.arguments.first ?? ""), ("config_file", configFile ?? ""),
            ]
        case "clients":
            let handles = clients.all
            return [
                ("connected_clients", String(connectedClients.load(ordering: .relaxed))),
                ("maxclients", String(config.maxclients)),
                ("cluster_connections", "0"),
                ("client_recent_max_input_buffer", String(handles.map { $0.queryBuffer.load(ordering: .relaxed) }.max() ?? 0)),
                ("client_recent_max_output_buffer", String(handles.map { $0.outputPending.load(ordering: .relaxed) }.max() ?? 0)),
                ("blocked_clients", String(blocking.count)),
                ("clients_in_timeout_table", String(blocking.timedCount)),
                ("tracking_clients", String(tracking.clientCount)),
            ]
        case "memory":
            let used = usedMemory
            let rss = residentSetSize()
            let peak = max(peakMemory.load(ordering: .relaxed), used)
            let dataset = keyspace.usedBytes
            let allocated = allocatorInUse()
            let system = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
            let lua = scripting.memoryReport
            let clientBuffers = clients.all.reduce(0) {
                $0 + $1.queryBuffer.load(ordering: .relaxed) + $1.queryBufferFree.load(ordering: .relaxed)
                    + $1.outputCapacity.load(ordering: .relaxed)
            }
            return [
                ("used_memory", String(used)), ("used_memory_human", humanBytes(used)),
                ("used_memory_rss", String(rss)), ("used_memory_rss_human", humanBytes(rss)),
                ("used_memory_peak", String(peak)), ("used_memory_peak_human", humanBytes(peak)),
                ("used_memory_peak_perc", formatRatio(peak > 0 ? Double(used) * 100 / Double(peak) : 100) + "%"),
                ("used_memory_overhead", String(used - dataset)),
                ("used_memory_startup", String(memoryBaseline)),
                ("used_memory_dataset", String(dataset)),
                ("used_memory_dataset_perc",
                 formatRatio(used > memoryBaseline ? Double(dataset) * 100 / Double(used - memoryBaseline) : 0) + "%"),
                ("allocator_allocated", String(allocated)), ("used_memory_allocator", String(allocated)),
                ("total_system_memory", String(system)), ("total_system_memory_human", humanBytes(system)),
                // One Lua heap per event loop runs both EVAL scripts and functions: it is reported as the eval VM.
                ("used_memory_lua", String(lua.lua)), ("used_memory_vm_eval", String(lua.lua)),
                ("used_memory_lua_human", humanBytes(lua.lua)), ("used_memory_scripts_eval", String(lua.scriptBytes)),
                ("number_of_cached_scripts", String(lua.scripts)), ("number_of_functions", String(lua.functions)),
                ("number_of_libraries", String(lua.libraries)), ("used_memory_vm_functions", "0"),
                ("used_memory_vm_total", String(lua.lua)), ("used_memory_vm_total_human", humanBytes(lua.lua)),
                ("used_memory_functions", String(lua.libraryBytes)),
                ("used_memory_scripts", String(lua.scriptBytes + lua.libraryBytes)),
                ("used_memory_scripts_human", humanBytes(lua.scriptBytes + lua.libraryBytes)),
                ("maxmemory", String(config.maxmemory)), ("maxmemory_human", humanBytes(config.maxmemory)),
                ("maxmemory_policy", config.maxmemoryPolicy),
                ("mem_fragmentation_ratio", used > 0 ? formatRatio(Double(rss) / Double(used)) : "0.00"),
                ("mem_fragmentation_bytes", String(rss - used)),
                ("mem_not_counted_for_evict", "0"), ("mem_replication_backlog", "0"),
                ("mem_total_replication_buffers", "0"), ("mem_clients_slaves", "0"),
                ("mem_clients_normal", String(clientBuffers)), ("mem_cluster_links", "0"), ("mem_aof_buffer", "0"),
                ("mem_allocator", "libc"), ("active_defrag_running", "0"), ("lazyfree_pending_objects", "0"),
                ("lazyfreed_objects", "0"),
            ]
        case "persistence":
            return snapshots.infoFields()
        case "stats":
            let pubsubCounts = pubsub.counts
            return [
                ("total_connections_received", String(sumStats { $0.connectionsReceived.load(ordering: .relaxed) })),
                ("total_commands_processed", String(sumStats { $0.commandsProcessed.load(ordering: .relaxed) })),
                ("instantaneous_ops_per_sec", String(instantaneousOpsPerSecond)),
                ("instantaneous_input_kbps", formatRatio(instantaneousInputKbps)),
                ("instantaneous_output_kbps", formatRatio(instantaneousOutputKbps)),
                ("total_net_input_bytes", String(sumStats { $0.netInputBytes.load(ordering: .relaxed) })),
                ("total_net_output_bytes", String(sumStats { $0.netOutputBytes.load(ordering: .relaxed) })),
                ("rejected_connections", String(sumStats { $0.rejectedConnections.load(ordering: .relaxed) })),
                ("expired_keys", String(store.expiredKeyCount())),
                ("evicted_keys", String(keyspace.evictedKeyCount)),
                ("keyspace_hits", String(sumStats { $0.keyspaceHits.load(ordering: .relaxed) })),
                ("keyspace_misses", String(sumStats { $0.keyspaceMisses.load(ordering: .relaxed) })),
                ("total_error_replies", String(sumStats { $0.errorReplies.load(ordering: .relaxed) })),
                ("unexpected_error_replies", "0"), ("total_forks", "0"), ("latest_fork_usec", "0"),
                ("sync_full", "0"), ("sync_partial_ok", "0"), ("sync_partial_err", "0"),
                ("total_net_repl_input_bytes", "0"), ("total_net_repl_output_bytes", "0"),
                ("instantaneous_input_repl_kbps", "0.00"), ("instantaneous_output_repl_kbps", "0.00"),
                ("evicted_clients", "0"), ("total_eviction_exceeded_time", "0"), ("current_eviction_exceeded_time", "0"),
                ("migrate_cached_sockets", "0"), ("slave_expires_tracked_keys", "0"), ("active_defrag_hits", "0"),
                ("active_defrag_misses", "0"), ("active_defrag_key_hits", "0"), ("active_defrag_key_misses", "0"),
                ("total_active_defrag_time", "0"), ("current_active_defrag_time", "0"),
                ("dump_payload_sanitizations", "0"), ("io_threaded_reads_processed", "0"),
                ("io_threaded_writes_processed", "0"), ("reply_buffer_shrinks", "0"), ("reply_buffer_expands", "0"),
                ("pubsub_channels", String(pubsubCounts.channels)), ("pubsub_patterns", String(pubsubCounts.patterns)),
                ("pubsubshard_channels", String(pubsubCounts.shardChannels)),
                ("tracking_total_keys", String(tracking.keyCount.load(ordering: .relaxed))),
                ("tracking_total_items", String(tracking.itemCount.load(ordering: .relaxed))),
                ("tracking_total_prefixes", String(tracking.totalPrefixes)),
            ]
        case "replication":
            // A standalone master, as Redis without replicas reports itself.
            return [
                ("role", "master"), ("connected_slaves", "0"), ("master_failover_state", "no-failover"),
                ("master_replid", runID), ("master_replid2", String(repeating: "0", count: 40)),
                ("master_repl_offset", "0"), ("second_repl_offset", "-1"), ("repl_backlog_active", "0"),
                ("repl_backlog_size", "1048576"), ("repl_backlog_first_byte_offset", "0"), ("repl_backlog_histlen", "0"),
            ]
        case "cpu":
            var usage = rusage()
            getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
            func seconds(_ time: timeval) -> String {
                let value = Double(time.tv_sec) + Double(time.tv_usec) / 1e6
                return String(Double(Int(value * 1e6)) / 1e6)
            }
            var children = rusage()
            getrusage(Int32(RUSAGE_CHILDREN.rawValue), &children)
            // No main thread: every event loop is one; the process's figures stand for it.
            return [
                ("used_cpu_sys", seconds(usage.ru_stime)), ("used_cpu_user", seconds(usage.ru_utime)),
                ("used_cpu_sys_children", seconds(children.ru_stime)),
                ("used_cpu_user_children", seconds(children.ru_utime)),
                ("used_cpu_sys_main_thread", seconds(usage.ru_stime)),
                ("used_cpu_user_main_thread", seconds(usage.ru_utime)),
            ]
        case "modules", "cluster":
            return name == "cluster" ? [("cluster_enabled", "0")] : []
        case "errorstats":
            var totals: [String: Int] = [:]
            for stats in loopStats {
                stats.errorCodes.withLock { for (code, count) in $0 { totals[code, default: 0] += count } }
            }
            return totals.keys.sorted().map { ("errorstat_\($0)", "count=\(totals[$0]!)") }
        case "latencystats":
            return latencyStatsFields()
        case "shards":
            return shardFields()
        case "commandstats":
            return commands.flattened.compactMap { command in
                let calls = sumStats { $0.commands[command.statsIndex].calls.load(ordering: .relaxed) }
                let rejected = sumStats { $0.commands[command.statsIndex].rejected.load(ordering: .relaxed) }
                let failed = sumStats { $0.commands[command.statsIndex].failed.load(ordering: .relaxed) }
                guard calls + rejected > 0 else { return nil }
                let micros = sumStats { $0.commands[command.statsIndex].nanoseconds.load(ordering: .relaxed) } / 1000
                let perCall = calls > 0 ? formatRatio(Double(micros) / Double(calls)) : "0.00"
                return (
                    "cmdstat_\(command.fullName)",
                    "calls=\(calls),usec=\(micros),usec_per_call=\(perCall),rejected_calls=\(rejected),failed_calls=\(failed)"
                )
            }
        case "keyspace":
            return store.keyCounts().enumerated().compactMap { database, counts in
                counts.keys > 0 ? ("db\(database)", "keys=\(counts.keys),expires=\(counts.volatile),avg_ttl=0") : nil
            }
        default:
            return nil
        }
    }
}

/// Bytes the allocator has handed out and not taken back (mallinfo2: arena and mmap'd chunks in use).
func allocatorInUse() -> Int {
    Int(cshoal_malloc_in_use())
}

/// Resident set size from /proc/self/statm.
func residentSetSize() -> Int {
    let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 128)
    let count = read(fd, &buffer, buffer.count)
    guard count > 0 else { return 0 }
    let fields = String(decoding: buffer[..<count], as: UTF8.self).split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func humanBytes(_ bytes: Int) -> String {
    let value = Double(bytes)
    if bytes < 1024 { return "\(bytes)B" }
    if bytes < 1024 * 1024 { return formatRatio(value / 1024) + "K" }
    if bytes < 1024 * 1024 * 1024 { return formatRatio(value / 1024 / 1024) + "M" }
    return formatRatio(value / 1024 / 1024 / 1024) + "G"
}

/// Two decimals, as Redis prints ratios and usec_per_call.
func formatRatio(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

extension ServerState {
    /// INFO shards, Shoal's own section: how often and how long readers and writers waited for a shard lock
    /// (only contended acquisitions are timed), the shards waited on most, and the last snapshot's writer pause.
    func shardFields() -> [(String, String)] {
        let readers = keyspace.lockWaits.readers.snapshot()
        let writers = keyspace.lockWaits.writers.snapshot()
        func micros(_ nanoseconds: Int) -> String {
            String(decoding: cFormat("%.3f", [Double(nanoseconds) / 1000]), as: UTF8.self)
        }
        var fields: [(String, String)] = [
            ("shards_per_db", String(keyspace.shardsPerDatabase)),
            ("shard_lock_read_waits", String(readers.total)),
            ("shard_lock_write_waits", String(writers.total)),
        ]
        for (name, counts) in [("read", readers), ("write", writers)] {
            fields.append(
                ("shard_lock_\(name)_wait_usec",
                 "p50=\(micros(counts.percentile(0.5))),p99=\(micros(counts.percentile(0.99))),p99.9=\(micros(counts.percentile(0.999)))"))
        }
        let hottest = keyspace.shardContention().filter { $0.contended > 0 }.sorted { $0.waitedNanoseconds > $1.waitedNanoseconds }
        for (rank, entry) in hottest.prefix(5).enumerated() {
            fields.append(
                ("shard_hot_\(rank)",
                 "db=\(entry.shard.database),shard=\(entry.shard.shard),waits=\(entry.contended),waited_usec=\(entry.waitedNanoseconds / 1000)"))
        }
        let status = snapshots.status.withLock { $0 }
        fields.append(("snapshot_last_writer_pause_usec", String(status.lastPauseMicroseconds)))
        fields.append(("snapshot_last_writer_copy_max_usec", String(status.lastWriterCopyMicroseconds)))
        return fields
    }
}
