import Synchronization

/// Which access statistic the keyspace keeps per key, following `maxmemory-policy`: as Redis, either the LRU
/// clock or the LFU counter, in the same slot (32 bits here, 24 in Redis).
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
/// Slot layout, 32 bits: under LRU the last access in milliseconds, wrapping (Redis uses seconds, which can't
/// order the keys of a workload shorter than a second); under LFU bits 0-7 the logarithmic counter and bits
/// 8-23 the LFU clock in minutes, as Redis's `LFUDecrAndReturn` expects. Like Redis, a policy switch reads
/// the other policy's data until keys are touched again (hence Redis's note on CONFIG SET maxmemory-policy).
final class AccessMetadata: @unchecked Sendable {
    private(set) var storage: UnsafeMutablePointer<Atomic<UInt32>>
    private(set) var capacity: Int

    static let initialLFUCounter: UInt64 = 5  // Redis's LFU_INIT_VAL: new keys aren't evicted before a second use

    let policy: AccessPolicy

    /// Slots `0..<initialized` are initialized; the rest of the capacity is untouched memory, so a doubled
    /// allocation costs resident memory only as it fills (page by page), not at once.
    private var initialized = 0

    init(policy: AccessPolicy, capacity: Int = 8) {
        self.policy = policy
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
    }

    deinit {
        storage.deinitialize(count: initialized)
        storage.deallocate()
    }

    /// Writers only: makes room for `count` slots.
    func reserve(_ count: Int) {
        if count > capacity {
            var newCapacity = capacity
            while newCapacity < count { newCapacity *= 2 }
            let grown = UnsafeMutablePointer<Atomic<UInt32>>.allocate(capacity: newCapacity)
            for index in 0..<initialized {
                (grown + index).initialize(to: Atomic(storage[index].load(ordering: .relaxed)))
            }
            storage.deinitialize(count: initialized)
            storage.deallocate()
            storage = grown
            capacity = newCapacity
        }
        while initialized < count {
            (storage + initialized).initialize(to: Atomic(0))
            initialized += 1
        }
    }

    @inline(__always) func load(_ index: Int) -> UInt64 { UInt64(storage[index].load(ordering: .relaxed)) }
    @inline(__always) func store(_ index: Int, _ value: UInt64) {
        storage[index].store(UInt32(truncatingIfNeeded: value), ordering: .relaxed)
    }

    /// A new key: accessed now (LRU), or with the initial LFU counter (LFU).
    func fresh(now: Milliseconds) -> UInt64 {
        switch policy.tracking {
        case .lru: return Self.lruStamp(now)
        case .lfu: return Self.initialLFUCounter | Self.lfuMinutes(now) << 8
        }
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
        let counter = slot & 0xFF
        guard settings.decayMinutes > 0 else { return counter }
        let last = (slot >> 8) & 0xFFFF
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
            store(index, Self.lruStamp(now))
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
            store(index, counter | Self.lfuMinutes(now) << 8)
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
