import ShoalPosix

/// `maxmemory-policy`, with Redis's names and meaning.
public enum EvictionPolicy: String, Sendable, CaseIterable {
    case noEviction = "noeviction"
    case allKeysLRU = "allkeys-lru"
    case allKeysLFU = "allkeys-lfu"
    case allKeysRandom = "allkeys-random"
    case volatileLRU = "volatile-lru"
    case volatileLFU = "volatile-lfu"
    case volatileRandom = "volatile-random"
    case volatileTTL = "volatile-ttl"

    /// `volatile-*` policies only ever evict keys that carry a deadline.
    public var volatileOnly: Bool { rawValue.hasPrefix("volatile") }

    /// What the keyspace must track per key for this policy.
    public var tracking: AccessTracking { self == .allKeysLFU || self == .volatileLFU ? .lfu : .lru }

    var isRandom: Bool { self == .allKeysRandom || self == .volatileRandom }
}

/// What one eviction call achieved.
public enum EvictionOutcome: Sendable, Equatable {
    /// Memory is under the limit.
    case fits
    /// Keys were evicted but memory is still over (the work per call is bounded); the next command goes on.
    case progressed
    /// Nothing can be evicted (no keys, or no keys with a deadline for a `volatile-*` policy).
    case nothingEvictable
}

/// The best eviction candidates seen so far (highest score = best to evict), kept across calls like
/// Redis's `EvictionPoolLRU`: sampling a few keys per call still converges on good victims.
final class EvictionPool: Sendable {
    struct Candidate {
        var score: UInt64
        var shard: Int
        var key: Key
    }

    static let size = 16
    private let candidates = Locked<[Candidate]>([])  // ascending by score

    func insert(_ candidate: Candidate) {
        candidates.withLock { candidates in
            if let existing = candidates.firstIndex(where: { $0.shard == candidate.shard && $0.key == candidate.key }) {
                candidates.remove(at: existing)
            }
            if candidates.count >= Self.size {
                guard candidate.score > candidates[0].score else { return }
                candidates.removeFirst()
            }
            let position = candidates.firstIndex { $0.score > candidate.score } ?? candidates.count
            candidates.insert(candidate, at: position)
        }
    }

    func popBest() -> Candidate? { candidates.withLock { $0.popLast() } }

    func removeAll() { candidates.withLock { $0.removeAll() } }
}

extension Keyspace {
    /// Evicts keys, across all databases, until the dataset fits in `limit` bytes: Redis's `performEvictions`
    /// with its approximations (evict.c). LRU, LFU and TTL policies sample `samples` keys from a few random
    /// shards into the candidate pool and evict the best candidate; random policies evict a random key. At most
    /// `maxKeys` keys are evicted per call, so one command never stalls for long.
    public func evict(
        toFit limit: Int, policy: EvictionPolicy, samples: Int, now: Milliseconds, maxKeys: Int = 64
    ) -> EvictionOutcome {
        var evictedNow = 0
        while usedBytes > limit {
            guard policy != .noEviction else { return .nothingEvictable }
            if evictedNow >= maxKeys { return .progressed }
            let done =
                policy.isRandom
                ? evictRandomKey(volatileOnly: policy.volatileOnly)
                : evictFromPool(policy: policy, samples: max(1, samples), now: now)
            guard done else { return evictedNow > 0 ? .progressed : .nothingEvictable }
            evictedNow += 1
        }
        return .fits
    }

    private func shardHasCandidates(_ table: some TableReading, volatileOnly: Bool) -> Bool {
        volatileOnly ? table.volatileCount > 0 : !table.isEmpty
    }

    private func evictRandomKey(volatileOnly: Bool) -> Bool {
        var generator = SamplingRandom()
        let count = allShardCount
        let start = Int.random(in: 0..<count, using: &generator)
        for offset in 0..<count {
            let index = (start + offset) % count
            let removed = writeShard(index: index) { table -> Bool in
                let victim =
                    volatileOnly ? table.randomVolatileIndex(using: &generator) : table.randomIndex(using: &generator)
                guard let victim else { return false }
                table.remove(at: victim, change: .evicted)
                return true
            }
            if removed {
                noteEvicted()
                return true
            }
        }
        return false
    }

    private func evictFromPool(policy: EvictionPolicy, samples: Int, now: Milliseconds) -> Bool {
        var generator = SamplingRandom()
        let count = allShardCount
        let lfu = accessPolicy.lfu
        // Sample a few shards that have candidates into the pool. The walk visits every shard once, from a random
        // start with a random stride coprime to the count, so it always finds a shard with keys when there is one
        // and still spreads its samples over all of them. (Up to 64 random tries gave up when most shards were
        // empty, as they are when only database 0 of 16 holds data: they missed all 16 full shards 1.6% of the
        // time, and a write that could have evicted was refused with OOM.)
        var sampledShards = 0
        let start = Int.random(in: 0..<count, using: &generator)
        let stride = coprimeStride(count, using: &generator)
        for step in 0..<count where sampledShards < 4 {
            let index = (start + step * stride) % count
            let found: [EvictionPool.Candidate] = readShard(index: index) { table in
                guard shardHasCandidates(table, volatileOnly: policy.volatileOnly) else { return [] }
                var picked: [EvictionPool.Candidate] = []
                for _ in 0..<samples {
                    let candidate =
                        policy.volatileOnly
                        ? table.randomVolatileIndex(using: &generator) : table.randomIndex(using: &generator)
                    guard let candidate else { break }
                    let score: UInt64
                    switch policy {
                    case .volatileTTL:
                        score = UInt64.max - UInt64(bitPattern: table.expiresAt(at: candidate))
                    case .allKeysLFU, .volatileLFU:
                        let slot = table.accessSlot(at: candidate)
                        let counter = AccessMetadata.decayedCounter(slot, now: now, settings: lfu)
                        let idle = UInt64(
                            max(0, min(AccessMetadata.idleMilliseconds(slot, now: now), Int64(UInt32.max))))
                        score = (255 - counter) << 32 | idle  // least frequent first; among equals, the idlest
                    default:
                        score = UInt64(
                            max(0, AccessMetadata.idleMilliseconds(table.accessSlot(at: candidate), now: now)))
                    }
                    picked.append(EvictionPool.Candidate(score: score, shard: index, key: table.key(at: candidate)))
                }
                return picked
            }
            if !found.isEmpty {
                sampledShards += 1
                for candidate in found { evictionPool.insert(candidate) }
            }
        }
        // Evict the best candidate that still exists (and still has a deadline, for volatile policies).
        while let best = evictionPool.popBest() {
            let removed = best.key.withView { view in
                writeShard(index: best.shard) { table -> Bool in
                    guard let index = table.find(view) else { return false }
                    if policy.volatileOnly && table.expiresAt(at: index) == 0 { return false }
                    table.remove(at: index, change: .evicted)
                    return true
                }
            }
            if removed {
                noteEvicted()
                return true
            }
        }
        return false
    }
}

/// A random step in 1..<count that shares no factor with `count`, so `start + k * step (mod count)` for k in
/// 0..<count visits every index exactly once.
func coprimeStride(_ count: Int, using generator: inout SamplingRandom) -> Int {
    guard count > 2 else { return 1 }
    func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
    for _ in 0..<8 {
        let candidate = Int.random(in: 1..<count, using: &generator)
        if gcd(candidate, count) == 1 { return candidate }
    }
    return 1
}
