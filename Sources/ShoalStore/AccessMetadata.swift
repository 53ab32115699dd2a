import Synchronization

/// Which access statistic the keyspace keeps per key, following `maxmemory-policy` (Redis keeps either the
/// LRU clock or the LFU counter in the same 24 bits; Shoal keeps both in 64 and updates the one in use).
public enum AccessTracking: Int, Sendable {
    case lru = 0
    case lfu = 1
}

/// LFU tuning, as Redis's `lfu-log-factor` and `lfu-decay-time`.
public struct LFUSettings: Sendable, Equatable {
    public var logFactor: Int
    public var decayMinutes: Int
    public init(logFactor: Int = 10, decayMinutes: Int = 1) {
        self.logFactor = logFactor
        self.decayMinutes = decayMinutes
    }
}

/// What every table of a keyspace tracks, changed live by CONFIG SET (maxmemory-policy, lfu-*).
public final class AccessPolicy: Sendable {
    let trackingRaw = Atomic<Int>(AccessTracking.lru.rawValue)
    let logFactor = Atomic<Int>(10)
    let decayMinutes = Atomic<Int>(1)

    public init() {}

    public var tracking: AccessTracking {
        get { AccessTracking(rawValue: trackingRaw.load(ordering: .relaxed)) ?? .lru }
        set { trackingRaw.store(newValue.rawValue, ordering: .relaxed) }
    }

    public var lfu: LFUSettings {
        get {
            LFUSettings(
                logFactor: logFactor.load(ordering: .relaxed), decayMinutes: decayMinutes.load(ordering: .relaxed))
        }
        set {
            logFactor.store(newValue.logFactor, ordering: .relaxed)
            decayMinutes.store(newValue.decayMinutes, ordering: .relaxed)
        }
    }
}

/// Per-key access statistics of one shard table, stored beside the table's nodes (same index).
///
/// Readers update them under the shard's *read* lock, concurrently, so every slot is an atomic: a relaxed
/// store for the LRU clock, a relaxed load-compute-store for the LFU counter (two readers racing may lose one
/// increment of an approximate counter; never a data race). Only writers, under the write lock, add, move or
/// remove slots and grow the storage.
///
/// Slot layout: bits 0-31 last access in milliseconds, wrapping (LRU; Redis uses seconds, which can't order
/// the keys of a workload shorter than a second); bits 32-39 the LFU logarithmic counter; bits 40-55 the
/// LFU clock in minutes, as Redis's `LFUDecrAndReturn` expects.
final class AccessMetadata: @unchecked Sendable {
    private(set) var storage: UnsafeMutablePointer<Atomic<UInt64>>
    private(set) var capacity: Int

    static let initialLFUCounter: UInt64 = 5  // Redis's LFU_INIT_VAL: new keys aren't evicted before a second use

    let policy: AccessPolicy

    init(policy: AccessPolicy, capacity: Int = 8) {
        self.policy = policy
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
        for index in 0..<capacity { (storage + index).initialize(to: Atomic(0)) }
    }

    deinit {
        storage.deinitialize(count: capacity)
        storage.deallocate()
    }

    /// Writers only: makes room for `count` slots.
    func reserve(_ count: Int) {
        guard count > capacity else { return }
        var newCapacity = capacity
        while newCapacity < count { newCapacity *= 2 }
        let grown = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: newCapacity)
        for index in 0..<capacity { (grown + index).initialize(to: Atomic(storage[index].load(ordering: .relaxed))) }
        for index in capacity..<newCapacity { (grown + index).initialize(to: Atomic(0)) }
        storage.deinitialize(count: capacity)
        storage.deallocate()
        storage = grown
        capacity = newCapacity
    }

    @inline(__always) func load(_ index: Int) -> UInt64 { storage[index].load(ordering: .relaxed) }
    @inline(__always) func store(_ index: Int, _ value: UInt64) { storage[index].store(value, ordering: .relaxed) }

    /// A new key: accessed now, with the initial LFU counter.
    static func fresh(now: Milliseconds) -> UInt64 {
        lruStamp(now) | initialLFUCounter << 32 | lfuMinutes(now) << 40
    }

    @inline(__always) static func lruStamp(_ now: Milliseconds) -> UInt64 { UInt64(UInt32(truncatingIfNeeded: now)) }
    @inline(__always) static func lfuMinutes(_ now: Milliseconds) -> UInt64 { UInt64(now / 60_000) & 0xFFFF }

    /// Milliseconds since the key was last accessed.
    static func idleMilliseconds(_ slot: UInt64, now: Milliseconds) -> Int64 {
        let last = UInt32(truncatingIfNeeded: slot)
        let current = UInt32(truncatingIfNeeded: now)
        return Int64(current &- last)
    }

    /// The LFU counter after decay: one point per `decayMinutes` elapsed (Redis's `LFUDecrAndReturn`).
    static func decayedCounter(_ slot: UInt64, now: Milliseconds, settings: LFUSettings) -> UInt64 {
        let counter = (slot >> 32) & 0xFF
        guard settings.decayMinutes > 0 else { return counter }
        let last = (slot >> 40) & 0xFFFF
        let current = lfuMinutes(now)
        let elapsed = current >= last ? current - last : 65536 - last + current
        let periods = elapsed / UInt64(settings.decayMinutes)
        return periods > counter ? 0 : counter - periods
    }

    /// Records an access: the LRU clock, and (for LFU) a logarithmic increment of the decayed counter, with
    /// probability 1 / ((counter - 5) * logFactor + 1) as Redis's `LFULogIncr`.
    @inline(__always)
    func touch(_ index: Int, now: Milliseconds, hash: UInt64) {
        let slot = load(index)
        switch policy.tracking {
        case .lru:
            store(index, slot & ~0xFFFF_FFFF | Self.lruStamp(now))
        case .lfu:
            let settings = policy.lfu
            var counter = Self.decayedCounter(slot, now: now, settings: settings)
            if counter < 255 {
                let base = counter > Self.initialLFUCounter ? counter - Self.initialLFUCounter : 0
                let threshold = 1.0 / (Double(base) * Double(settings.logFactor) + 1.0)
                // A cheap draw: the key's hash mixed with the slot and the nanosecond clock (splitmix64's finaliser).
                var mixed = hash ^ slot ^ UInt64(bitPattern: monotonicNanoseconds())
                mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
                mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
                mixed ^= mixed >> 31
                let draw = Double(mixed >> 11) / Double(1 << 53)
                if draw < threshold { counter += 1 }
            }
            store(index, Self.lruStamp(now) | counter << 32 | Self.lfuMinutes(now) << 40)
        }
    }
}

/// Reading an access slot from outside the store (OBJECT IDLETIME, OBJECT FREQ).
public enum AccessStatistics {
    public static func idleMilliseconds(_ slot: UInt64, now: Milliseconds) -> Int64 {
        AccessMetadata.idleMilliseconds(slot, now: now)
    }

    public static func decayedCounter(_ slot: UInt64, now: Milliseconds, settings: LFUSettings) -> UInt64 {
        AccessMetadata.decayedCounter(slot, now: now, settings: settings)
    }
}
