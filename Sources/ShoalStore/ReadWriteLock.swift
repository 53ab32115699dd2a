import CShoalPosix
import ShoalPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A pthread read-write lock whose storage is heap-allocated once, so the pthread object never moves.
/// Writers are preferred: a steady stream of GETs cannot starve a SET on the same shard.
///
/// Only `Keyspace` locks and unlocks it, always through closure-scoped helpers; command code never does.
///
/// Waiting is measured, and only waiting: each acquisition first tries without blocking, so an uncontended lock
/// reads no clock. A contended one counts in `contended`/`waitedNanoseconds` and in the keyspace's histograms.
final class ReadWriteLock: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<pthread_rwlock_t>
    private let waits: LockWaits
    /// Acquisitions that had to wait, and how long they waited in total (INFO shards, /metrics).
    let contended = Atomic<Int>(0)
    let waitedNanoseconds = Atomic<Int>(0)

    init(waits: LockWaits) {
        self.waits = waits
        storage = .allocate(capacity: 1)
        storage.initialize(to: pthread_rwlock_t())
        let rc = cshoal_rwlock_init_prefer_writer(storage)
        precondition(rc == 0, "pthread_rwlock_init failed: \(rc)")
    }

    deinit {
        pthread_rwlock_destroy(storage)
        storage.deinitialize(count: 1)
        storage.deallocate()
    }

    @inline(__always) func lockRead() {
        if pthread_rwlock_tryrdlock(storage) == 0 { return }
        let started = Int(monotonicNanoseconds())
        let rc = pthread_rwlock_rdlock(storage)
        precondition(rc == 0, "pthread_rwlock_rdlock failed: \(rc)")
        noteWait(since: started, into: waits.readers)
    }

    @inline(__always) func lockWrite() {
        if pthread_rwlock_trywrlock(storage) == 0 { return }
        let started = Int(monotonicNanoseconds())
        let rc = pthread_rwlock_wrlock(storage)
        precondition(rc == 0, "pthread_rwlock_wrlock failed: \(rc)")
        noteWait(since: started, into: waits.writers)
    }

    private func noteWait(since started: Int, into histogram: LatencyHistogram) {
        let waited = Int(monotonicNanoseconds()) - started
        contended.wrappingAdd(1, ordering: .relaxed)
        waitedNanoseconds.wrappingAdd(waited, ordering: .relaxed)
        histogram.recordShared(nanoseconds: waited)
    }

    @inline(__always) func unlock() {
        let rc = pthread_rwlock_unlock(storage)
        precondition(rc == 0, "pthread_rwlock_unlock failed: \(rc)")
    }
}

/// How long readers and writers waited for shard locks, over the whole keyspace.
public final class LockWaits: Sendable {
    public let readers = LatencyHistogram()
    public let writers = LatencyHistogram()
    public init() {}
}

