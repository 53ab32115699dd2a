import CShoalPosix

#if canImport(Glibc)
    import Glibc
#endif

/// A pthread read-write lock whose storage is heap-allocated once, so the pthread object never moves.
/// Writers are preferred: a steady stream of GETs cannot starve a SET on the same shard.
///
/// Only `Keyspace` locks and unlocks it, always through closure-scoped helpers; command code never does.
final class ReadWriteLock: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
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
        let rc = pthread_rwlock_rdlock(storage)
        precondition(rc == 0, "pthread_rwlock_rdlock failed: \(rc)")
    }

    @inline(__always) func lockWrite() {
        let rc = pthread_rwlock_wrlock(storage)
        precondition(rc == 0, "pthread_rwlock_wrlock failed: \(rc)")
    }

    @inline(__always) func unlock() {
        let rc = pthread_rwlock_unlock(storage)
        precondition(rc == 0, "pthread_rwlock_unlock failed: \(rc)")
    }
}
