import CShoalPosix
import Logging
import ShoalPersistence
import ShoalPosix
import ShoalStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Saves snapshots: on demand (SAVE, BGSAVE, SHUTDOWN, SIGTERM) and when a `save <seconds> <changes>` rule is
/// met. One save runs at a time. The point-in-time copy is taken under all shards' read locks (microseconds);
/// serialisation, compression and I/O run on a background thread (BGSAVE) or the caller's (SAVE).
final class Snapshotter: Sendable {
    struct Status: Sendable {
        var inProgress = false
        var scheduled = false
        var currentStarted: Int64 = 0
        var lastOK = true
        var lastAttempt: Milliseconds = 0
        var lastDurationSeconds = -1
        var lastStats = SnapshotWriteStats()
        var lastPauseMicroseconds: Int64 = 0
        /// Segments writers copied during the last save because the snapshot shared them, and the longest
        /// single copy: what a write paid on top of the lock pause (`SegmentCopies`).
        var lastWriterCopies = 0
        var lastWriterCopyMicroseconds: Int64 = 0
        var saves = 0
        var lastError = ""
    }

    // What a save needs, and nothing else of the server: so the server can make its Snapshotter in one step.
    private let config: ConfigStore
    private let keyspace: Keyspace
    private let logger: Logger
    private let loopStats: [LoopStats]
    let status = Locked(Status())
    /// Unix seconds of the last successful save (the start time until one happens), for LASTSAVE and INFO.
    let lastSaveTime = Atomic<Int64>(0)
    /// Dirty counter value covered by the last successful save.
    let dirtyAtLastSave = Atomic<Int>(0)
    /// Set while writes must be refused with MISCONF (last save failed, `stop-writes-on-bgsave-error yes`).
    let writesBlocked = Atomic<Bool>(false)

    /// LATENCY's `snapshot-copy` events: how long writers waited for the point-in-time copy.
    private let latency: LatencyMonitor

    init(
        config: ConfigStore, keyspace: Keyspace, logger: Logger, loopStats: [LoopStats], startedAt: Milliseconds,
        latency: LatencyMonitor
    ) {
        self.latency = latency
        self.config = config
        self.keyspace = keyspace
        self.logger = logger
        self.loopStats = loopStats
        lastSaveTime.store(startedAt / 1000, ordering: .relaxed)
    }

    var dirty: Int { loopStats.reduce(0) { $0 + $1.dirty.load(ordering: .relaxed) } }
    var changesSinceLastSave: Int { dirty - dirtyAtLastSave.load(ordering: .relaxed) }

    enum StartResult { case started, alreadyRunning }

    /// Claims the right to save; false when a save is already running.
    private func begin() -> Bool {
        status.withLock { status in
            guard !status.inProgress else { return false }
            status.inProgress = true
            status.currentStarted = monotonicMicroseconds()
            return true
        }
    }

    /// SAVE: saves on the calling thread. Throws when another save is running or the save fails.
    /// `copy` takes the point-in-time copy (inside EXEC, from the shards the transaction holds).
    func saveNow(
        reason: String, copy: (() -> PointInTimeCopy)? = nil
    ) throws(CommandError) {
        guard begin() else { throw .saveInProgress }
        let result = perform(reason: reason, copy: copy)
        if case .failure(let error) = result { throw .saveFailed(error.description) }
    }

    /// The background save thread's nice value.
    static let backgroundNice: Int32 = 10

    /// What a background save does between chunks of records: on a core it shares with an event loop, a
    /// nice 10 thread still runs for whole scheduler slices (milliseconds) once picked, and every SET queued
    /// behind it waits that long. Yielding every ~100 µs of work lets a runnable loop go first; when no loop
    /// is waiting the call returns at once.
    static func yieldToLoops() { _ = sched_yield() }

    /// BGSAVE: starts a background save.
    func startBackgroundSave(reason: String) -> StartResult {
        guard begin() else { return .alreadyRunning }
        let thread = startThread(name: "shoal-bgsave") { [self] in
            // Below the event loops: on a busy core the loops' writers come first and the save takes the
            // idle time (measured with bench/compare.sh snapshot: the writers' p99 during a save of 5M keys).
            _ = cshoal_set_thread_nice(Self.backgroundNice)
            _ = perform(reason: reason, pause: Self.yieldToLoops)
            let runAgain = status.withLock { status -> Bool in
                defer { status.scheduled = false }
                return status.scheduled
            }
            if runAgain { _ = startBackgroundSave(reason: "scheduled BGSAVE") }
        }
        pthread_detach(thread)
        return .started
    }

    /// BGSAVE SCHEDULE while a save runs: start another when it ends.
    func schedule() { status.withLock { $0.scheduled = true } }

    typealias PointInTimeCopy = (tables: [(ShardID, ShardTable)], pauseMicroseconds: Int64)

    private func perform(
        reason: String, copy makeCopy: (() -> PointInTimeCopy)? = nil, pause: (() -> Void)? = nil
    ) -> Result<SnapshotWriteStats, SnapshotError> {
        let config = self.config.current
        let dirtyBefore = dirty
        let now = currentTimeMilliseconds()
        logger.notice("Saving snapshot (\(reason))...")
        _ = SegmentCopies.take()
        var copy = makeCopy?() ?? keyspace.pointInTimeCopy()
        let result: Result<SnapshotWriteStats, SnapshotError>
        do throws(SnapshotError) {
            result = .success(
                try SnapshotWriter.write(
                    tables: copy.tables, directory: config.dir, filename: config.dbfilename, now: now,
                    pause: pause))
        } catch {
            result = .failure(error)
        }
        // Drop the copies now: the segments that writers duplicated during the save are freed here, and hand
        // their pages back to the system as they go (SegmentedArray.Segment's deinit), on this thread.
        copy.tables = []
        let writerCopies = SegmentCopies.take()
        status.withLock { status in
            status.lastWriterCopies = writerCopies.copies
            status.lastWriterCopyMicroseconds = writerCopies.longestMicroseconds
            status.inProgress = false
            status.lastAttempt = now
            status.lastPauseMicroseconds = copy.pauseMicroseconds
            latency.note("snapshot-copy", milliseconds: Int(copy.pauseMicroseconds / 1000), config: self.config.current)
            status.lastDurationSeconds = Int((monotonicMicroseconds() - status.currentStarted) / 1_000_000)
            switch result {
            case .success(let stats):
                status.lastOK = true
                status.lastStats = stats
                status.saves += 1
                status.lastError = ""
            case .failure(let error):
                status.lastOK = false
                status.lastError = error.description
            }
        }
        switch result {
        case .success(let stats):
            dirtyAtLastSave.store(dirtyBefore, ordering: .relaxed)
            lastSaveTime.store(now / 1000, ordering: .relaxed)
            writesBlocked.store(false, ordering: .relaxed)
            logger.notice(
                "DB saved on disk: \(stats.keys) keys, \(stats.fileBytes) bytes (\(formatRatio(stats.compressionRatio))x), \(formatRatio(Double(stats.microseconds) / 1e6)) seconds, writers paused \(copy.pauseMicroseconds) µs, then copied \(writerCopies.copies) shared segments (longest \(writerCopies.longestMicroseconds) µs)"
            )
        case .failure(let error):
            writesBlocked.store(config.stopWritesOnBgsaveError && !config.save.isEmpty, ordering: .relaxed)
            logger.warning("Snapshot failed: \(error)")
        }
        return result
    }

    /// Called by the cron thread: starts a background save when a `save` rule is met (and, after a failure,
    /// not more often than every 5 seconds, as Redis's CONFIG_BGSAVE_RETRY_DELAY).
    func cron() {
        let config = self.config.current
        guard !config.save.isEmpty else {
            writesBlocked.store(false, ordering: .relaxed)
            return
        }
        let now = currentTimeMilliseconds()
        let (busy, lastOK, lastAttempt) = status.withLock { ($0.inProgress, $0.lastOK, $0.lastAttempt) }
        guard !busy else { return }
        if !lastOK && now - lastAttempt < 5000 { return }
        let changes = changesSinceLastSave
        let sinceSave = now / 1000 - lastSaveTime.load(ordering: .relaxed)
        for rule in config.save where changes >= rule.changes && sinceSave >= Int64(rule.seconds) && changes > 0 {
            _ = startBackgroundSave(reason: "\(rule.changes) changes in \(rule.seconds) seconds")
            return
        }
    }

    /// INFO persistence.
    func infoFields() -> [(String, String)] {
        let status = self.status.withLock { $0 }
        let current = status.inProgress ? Int((monotonicMicroseconds() - status.currentStarted) / 1_000_000) : -1
        return [
            ("loading", "0"),
            ("rdb_changes_since_last_save", String(changesSinceLastSave)),
            ("rdb_bgsave_in_progress", status.inProgress ? "1" : "0"),
            ("rdb_last_save_time", String(lastSaveTime.load(ordering: .relaxed))),
            ("rdb_last_bgsave_status", status.lastOK ? "ok" : "err"),
            ("rdb_last_bgsave_time_sec", String(status.lastDurationSeconds)),
            ("rdb_current_bgsave_time_sec", String(current)),
            ("rdb_saves", String(status.saves)),
            ("aof_enabled", "0"), ("aof_rewrite_in_progress", "0"), ("aof_rewrite_scheduled", "0"),
            ("aof_last_rewrite_time_sec", "-1"), ("aof_current_rewrite_time_sec", "-1"),
            ("aof_last_bgrewrite_status", "ok"), ("aof_rewrites", "0"), ("aof_rewrites_consecutive_failures", "0"),
            ("aof_last_write_status", "ok"), ("aof_last_cow_size", "0"), ("module_fork_in_progress", "0"),
            ("module_fork_last_cow_size", "0"),
            // No fork: a snapshot copies shard tables, nothing is copied on write by the kernel.
            ("async_loading", "0"), ("current_cow_peak", "0"), ("current_cow_size", "0"),
            ("current_cow_size_age", "0"), ("current_fork_perc", "0.00"), ("current_save_keys_processed", "0"),
            ("current_save_keys_total", "0"), ("rdb_last_cow_size", "0"),
            ("snapshot_last_keys", String(status.lastStats.keys)),
            ("snapshot_last_bytes", String(status.lastStats.fileBytes)),
            ("snapshot_last_raw_bytes", String(status.lastStats.rawBytes)),
            ("snapshot_last_compression_ratio", formatRatio(status.lastStats.compressionRatio)),
            ("snapshot_last_duration_usec", String(status.lastStats.microseconds)),
            ("snapshot_last_writer_pause_usec", String(status.lastPauseMicroseconds)),
            ("snapshot_last_writer_copies", String(status.lastWriterCopies)),
            ("snapshot_last_writer_copy_max_usec", String(status.lastWriterCopyMicroseconds)),
            ("snapshot_last_error", status.lastError),
        ]
    }
}
