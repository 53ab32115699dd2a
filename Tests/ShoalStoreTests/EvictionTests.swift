import Testing

@testable import ShoalStore

func fill(_ keyspace: Keyspace, _ prefix: String, _ count: Int, valueSize: Int = 100, expiresAt: Milliseconds = 0) {
    for i in 0..<count {
        let key = Key("\(prefix):\(i)")
        key.withView { view in
            keyspace.write(0, view) {
                $0.set(
                    view, Entry(value: .string(Array(repeating: 120, count: valueSize)), expiresAt: expiresAt), now: 0)
            }
        }
    }
}

func exists(_ keyspace: Keyspace, _ name: String, now: Milliseconds = 0) -> Bool {
    Key(name).withView { view in keyspace.read(0, view) { $0.peek(view, now: now) != nil } }
}

@Suite struct MemoryAccountingTests {
    /// Random writes, overwrites, appends and deletes: the running total always equals a recount.
    @Test func incrementalAccountingMatchesARecount() {
        let keyspace = Keyspace(databases: 2, shardsPerDatabase: 4)
        var generator = SeededGenerator(seed: 3)
        for step in 0..<5000 {
            let key = Key("k\(Int.random(in: 0..<300, using: &generator))")
            let database = Int.random(in: 0..<2, using: &generator)
            key.withView { view in
                keyspace.write(database, view) { table in
                    switch Int.random(in: 0..<4, using: &generator) {
                    case 0: table.set(view, Entry(value: .string(Array(repeating: 1, count: step % 200))), now: 0)
                    case 1: table.remove(view)
                    case 2:
                        if let index = table.find(view) {
                            table.modifyValue(at: index) { value in
                                if case .string(var bytes) = value {
                                    value = .string([])
                                    bytes.append(contentsOf: [1, 2, 3])
                                    value = .string(bytes)
                                }
                            }
                        }
                    default: table.set(view, Entry(value: .string([1]), expiresAt: Int64(step)), now: 0)
                    }
                }
            }
        }
        keyspace.activeExpireCycle(now: 2500, budgetMicroseconds: 1_000_000)
        let recount = keyspace.withShards(keyspace.allShardIDs(databases: 0..<2), exclusive: false) { group in
            var total = 0
            group.forEachTableReading { _, table in total += table.recomputedUsedBytes() }
            return total
        }
        #expect(keyspace.usedBytes == recount)
        keyspace.flushAll()
        #expect(keyspace.usedBytes == keyspace.allShardIDs(databases: 0..<2).count * 8 * 4)
    }
}

@Suite struct EvictionPolicyTests {
    /// Keys in one database of sixteen (the usual cache): every eviction call, even with an empty candidate pool,
    /// finds a key to evict. Random shard picks missed the few full shards often enough to refuse a write with
    /// OOM under load; 2000 fresh calls made that near certain (about 30 failures expected), now it is none.
    @Test(arguments: [EvictionPolicy.allKeysLRU, .allKeysLFU, .volatileTTL, .volatileLRU])
    func evictionAlwaysFindsKeysInOneDatabaseOfMany(policy: EvictionPolicy) {
        let keyspace = Keyspace(databases: 16, shardsPerDatabase: 16)
        keyspace.accessPolicy.tracking = policy.tracking
        fill(keyspace, "k", 4000, valueSize: 10, expiresAt: 1_000_000)
        var refused = 0
        for _ in 0..<2000 {
            keyspace.resetEvictionPool()
            if keyspace.evict(toFit: keyspace.usedBytes - 1, policy: policy, samples: 5, now: 1000) != .fits {
                refused += 1
            }
        }
        #expect(refused == 0, "\(refused) of 2000 eviction calls found nothing to evict")
    }

    /// The shard walk visits every index exactly once, whatever the count.
    @Test func coprimeStrideVisitsEveryShard() {
        var generator = SamplingRandom(seed: 7)
        for count in [1, 2, 3, 16, 24, 256, 1000] {
            for _ in 0..<20 {
                let stride = coprimeStride(count, using: &generator)
                let start = Int.random(in: 0..<count, using: &generator)
                #expect(Set((0..<count).map { (start + $0 * stride) % count }).count == count)
            }
        }
    }

    @Test func noevictionEvictsNothing() {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 4)
        fill(keyspace, "k", 1000)
        #expect(keyspace.evict(toFit: 1000, policy: .noEviction, samples: 5, now: 0) == .nothingEvictable)
        #expect(keyspace.keyCounts()[0].keys == 1000)
    }

    @Test(arguments: [
        EvictionPolicy.allKeysLRU, .allKeysLFU, .allKeysRandom, .volatileLRU, .volatileLFU, .volatileRandom,
        .volatileTTL,
    ])
    func everyPolicyFitsTheLimitAndVolatileOnesSparePersistentKeys(policy: EvictionPolicy) {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 8)
        keyspace.accessPolicy.tracking = policy.tracking
        fill(keyspace, "persistent", 500)
        fill(keyspace, "volatile", 2000, expiresAt: 10_000_000)
        let limit = keyspace.usedBytes / 2
        var outcome = EvictionOutcome.progressed
        while outcome == .progressed { outcome = keyspace.evict(toFit: limit, policy: policy, samples: 5, now: 1000) }
        #expect(outcome == .fits)
        #expect(keyspace.usedBytes <= limit)
        #expect(keyspace.evictedKeyCount > 0)
        if policy.volatileOnly {
            #expect((0..<500).allSatisfy { exists(keyspace, "persistent:\($0)") })
        }
    }

    @Test func volatilePoliciesGiveUpWhenOnlyPersistentKeysRemain() {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 4)
        fill(keyspace, "persistent", 500)
        for policy in [EvictionPolicy.volatileLRU, .volatileLFU, .volatileRandom, .volatileTTL] {
            #expect(keyspace.evict(toFit: 1000, policy: policy, samples: 5, now: 0) == .nothingEvictable)
        }
        #expect(keyspace.keyCounts()[0].keys == 500)
    }

    @Test func volatileTTLEvictsTheNearestDeadlinesFirst() {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 4)
        fill(keyspace, "soon", 300, expiresAt: 5_000)
        fill(keyspace, "late", 300, expiresAt: 9_000_000)
        let limit = keyspace.usedBytes * 6 / 10
        while keyspace.evict(toFit: limit, policy: .volatileTTL, samples: 10, now: 1000) == .progressed {}
        let soonLeft = (0..<300).filter { exists(keyspace, "soon:\($0)") }.count
        let lateLeft = (0..<300).filter { exists(keyspace, "late:\($0)") }.count
        #expect(lateLeft > 280)
        #expect(soonLeft < 150)
    }

    /// Approximated LRU: keys read recently survive; keys never read again go first.
    @Test func lruKeepsRecentlyUsedKeys() {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 8)
        fill(keyspace, "cold", 2000)
        fill(keyspace, "hot", 200)
        // Reading the hot keys a little later makes them the most recently used.
        for i in 0..<200 {
            Key("hot:\(i)").withView { view in
                keyspace.read(0, view) { _ = $0.lookup(view, now: currentTimeMilliseconds() + 5000) }
            }
        }
        let limit = keyspace.usedBytes / 2
        while keyspace.evict(toFit: limit, policy: .allKeysLRU, samples: 5, now: currentTimeMilliseconds() + 6000)
            == .progressed
        {}
        let hotLeft = (0..<200).filter { exists(keyspace, "hot:\($0)") }.count
        #expect(hotLeft >= 190, "only \(hotLeft) of 200 hot keys survived")
    }

    /// Approximated LFU: frequently read keys survive.
    @Test func lfuKeepsFrequentlyUsedKeys() {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 8)
        keyspace.accessPolicy.tracking = .lfu
        fill(keyspace, "hot", 200)
        fill(keyspace, "cold", 2000)
        let now = currentTimeMilliseconds()
        for _ in 0..<50 {
            for i in 0..<200 {
                Key("hot:\(i)").withView { view in keyspace.read(0, view) { _ = $0.lookup(view, now: now) } }
            }
        }
        let limit = keyspace.usedBytes / 2
        while keyspace.evict(toFit: limit, policy: .allKeysLFU, samples: 5, now: now) == .progressed {}
        let hotLeft = (0..<200).filter { exists(keyspace, "hot:\($0)") }.count
        #expect(hotLeft >= 190, "only \(hotLeft) of 200 hot keys survived")
    }

    @Test func lfuCounterGrowsLogarithmicallyAndDecays() {
        let keyspace = Keyspace(databases: 1, shardsPerDatabase: 1)
        keyspace.accessPolicy.tracking = .lfu
        fill(keyspace, "k", 1)
        let now: Milliseconds = 10 * 60_000
        var slot: UInt64 = 0
        for _ in 0..<1000 {
            slot = Key("k:0").withView { view in
                keyspace.read(0, view) { table in
                    let index = table.lookup(view, now: now)!
                    return table.accessSlot(at: index)
                }
            }
        }
        let counter = AccessStatistics.decayedCounter(slot, now: now, settings: LFUSettings())
        #expect(counter > 10 && counter < 40)  // logarithmic: 1000 hits with factor 10 give about 20
        #expect(AccessStatistics.decayedCounter(slot, now: now + 5 * 60_000, settings: LFUSettings()) == counter - 5)
    }
}
