import Testing

@testable import ShoalStore

private func withBytes<R>(_ text: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    Array(text.utf8).withUnsafeBytes(body)
}

private func text(_ bytes: UnsafeRawBufferPointer) -> String { String(decoding: bytes, as: UTF8.self) }

private func contents(_ hash: HashValue) -> [String: String] {
    var result: [String: String] = [:]
    hash.forEach { result[text($0)] = text($1) }
    return result
}

private func contents(_ set: SetValue) -> Set<String> {
    var result = Set<String>()
    set.forEach { result.insert(text($0)) }
    return result
}

@Suite struct CollectionTests {
    /// A node is 64 bytes: every value case is one pointer, so `Value?` and the node's spill fit in 8 bytes.
    @Test func valueIsOnePointer() {
        #expect(MemoryLayout<Value?>.size == 8)
        #expect(MemoryLayout<ShardTable.Spill?>.size == 8)
        #expect(MemoryLayout<ShardTable.Node>.stride == 64)
    }

    /// Random HSET/HDEL against a dictionary, with limits small enough that the walk crosses both thresholds.
    @Test func hashMatchesAReferenceDictionary() {
        var generator = SeededGenerator(seed: 11)
        let limits = EncodingLimits(hashMaxListpackEntries: 16, hashMaxListpackValue: 8)
        for _ in 0..<40 {
            var hash = HashValue()
            var reference: [String: String] = [:]
            var converted = false
            for _ in 0..<300 {
                let field = "f\(Int.random(in: 0..<40, using: &generator))"
                if Int.random(in: 0..<3, using: &generator) == 0 {
                    let removed = withBytes(field) { hash.remove($0) }
                    #expect(removed == (reference.removeValue(forKey: field) != nil))
                } else {
                    let value = String(repeating: "v", count: Int.random(in: 0..<10, using: &generator))
                    let added = withBytes(field) { f in withBytes(value) { hash.set(f, $0, limits: limits) } }
                    #expect(added == (reference.updateValue(value, forKey: field) == nil))
                }
                // Once a table, always a table; packed only while within both limits.
                if case .table = hash { converted = true }
                #expect(converted == (hash.encodingName == "hashtable"))
                #expect(hash.count == reference.count)
            }
            #expect(contents(hash) == reference)
            for (field, value) in reference {
                #expect(withBytes(field) { hash.withValue($0) { $0.map(text) } } == value)
            }
        }
    }

    @Test func hashConvertsExactlyAtRedisThresholds() {
        var hash = HashValue()
        for index in 0..<512 {
            withBytes("field\(index)") { f in withBytes("value") { _ = hash.set(f, $0, limits: .standard) } }
        }
        #expect(hash.encodingName == "listpack")
        withBytes("one-more") { f in withBytes("value") { _ = hash.set(f, $0, limits: .standard) } }
        #expect(hash.encodingName == "hashtable")
        #expect(hash.count == 513)

        var long = HashValue()
        withBytes("f") { f in withBytes(String(repeating: "x", count: 64)) { _ = long.set(f, $0, limits: .standard) } }
        #expect(long.encodingName == "listpack")
        withBytes("g") { f in withBytes(String(repeating: "x", count: 65)) { _ = long.set(f, $0, limits: .standard) } }
        #expect(long.encodingName == "hashtable")
        #expect(contents(long).count == 2)
    }

    /// Random SADD/SREM of integers and strings against a Swift set: widening, conversion on a string member
    /// and past the entry limit.
    @Test func setMatchesAReferenceSet() {
        var generator = SeededGenerator(seed: 5)
        let limits = EncodingLimits(setMaxIntsetEntries: 20)
        for round in 0..<40 {
            var set = SetValue.ints(IntSet())
            var reference = Set<String>()
            for _ in 0..<300 {
                let member: String
                switch Int.random(in: 0..<10, using: &generator) {
                case 0 where round % 2 == 0: member = "m\(Int.random(in: 0..<5, using: &generator))"
                case 1: member = String(Int64.random(in: Int64.min...Int64.max, using: &generator))
                case 2: member = String(Int32.random(in: Int32.min...Int32.max, using: &generator))
                default: member = String(Int.random(in: -30..<30, using: &generator))
                }
                if Int.random(in: 0..<3, using: &generator) == 0 {
                    #expect(withBytes(member) { set.remove($0) } == (reference.remove(member) != nil))
                } else {
                    #expect(withBytes(member) { set.add($0, limits: limits) } == reference.insert(member).inserted)
                }
                #expect(set.count == reference.count)
            }
            #expect(contents(set) == reference)
            if case .ints = set {
                // An intset lists its members in ascending order, as Redis's.
                let numbers = set.members.map { Int64(String(decoding: $0, as: UTF8.self))! }
                #expect(numbers == numbers.sorted())
            }
        }
    }

    @Test func intsetRulesFollowRedis() {
        var set = SetValue(firstMember: UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(set.encodingName == "hashtable")  // "" is not an integer
        set = withBytes("7") { SetValue(firstMember: $0) }
        #expect(set.encodingName == "intset")
        // string2ll's canonical form only: "07", "+7", "-0" and " 7" are strings.
        for member in ["7", "-7", "9223372036854775807", "-9223372036854775808"] {
            withBytes(member) { _ = set.add($0, limits: .standard) }
        }
        #expect(set.encodingName == "intset")
        #expect(withBytes("07") { set.contains($0) } == false)
        withBytes("07") { _ = set.add($0, limits: .standard) }
        #expect(set.encodingName == "hashtable")
        #expect(contents(set) == ["7", "-7", "07", "9223372036854775807", "-9223372036854775808"])

        var big = SetValue.ints(IntSet())
        for value in 0..<512 { withBytes(String(value)) { _ = big.add($0, limits: .standard) } }
        #expect(big.encodingName == "intset")
        withBytes("512") { _ = big.add($0, limits: .standard) }
        #expect(big.encodingName == "hashtable")
    }

    /// Enough fields to split segments many times; every operation checked against a dictionary.
    @Test func fieldMapMatchesAReferenceDictionary() {
        var generator = SeededGenerator(seed: 3)
        var map = FieldMap()
        var reference: [String: String] = [:]
        for step in 0..<30000 {
            let field = "field:\(Int.random(in: 0..<8000, using: &generator))"
            if Int.random(in: 0..<4, using: &generator) == 0 {
                #expect(withBytes(field) { map.remove($0) } == (reference.removeValue(forKey: field) != nil))
            } else {
                let value = "value \(step)"
                #expect(withBytes(field) { f in withBytes(value) { map.set(f, $0) } }
                    == (reference.updateValue(value, forKey: field) == nil))
            }
        }
        #expect(map.count == reference.count)
        var seen: [String: String] = [:]
        map.forEach { seen[text($0)] = text($1) }
        #expect(seen == reference)
        for (field, value) in reference.prefix(500) {
            #expect(withBytes(field) { map.withValue($0) { $0.map(text) } } == value)
        }
        var random = SeededGenerator(seed: 1)
        for _ in 0..<100 {
            let pick = map.randomEntry(using: &random)!
            #expect(reference[String(decoding: pick.field, as: UTF8.self)] == String(decoding: pick.value, as: UTF8.self))
        }
    }

    /// SCAN's guarantee: every field present for the whole walk is returned, even when the map grows (its
    /// directory doubles) between calls.
    @Test func fieldMapScanSurvivesGrowth() {
        var map = FieldMap()
        for index in 0..<2000 { withBytes("old\(index)") { f in withBytes("v") { _ = map.set(f, $0) } } }
        var seen = Set<String>()
        var cursor: UInt64 = 0
        var added = 0
        repeat {
            cursor = map.scan(cursor: cursor) { field, _ in seen.insert(text(field)) }
            for _ in 0..<50 {
                withBytes("new\(added)") { f in withBytes("v") { _ = map.set(f, $0) } }
                added += 1
            }
        } while cursor != 0
        #expect(map.count == 2000 + added)
        for index in 0..<2000 { #expect(seen.contains("old\(index)")) }
    }

    /// A copy (what a snapshot holds) never sees later writes, and the write copies segments, not the map.
    @Test func fieldMapCopiesAreIndependent() {
        var live = FieldMap()
        for index in 0..<20000 { withBytes("f\(index)") { f in withBytes("v\(index)") { _ = live.set(f, $0) } } }
        let snapshot = live
        withBytes("f1") { f in withBytes("changed") { _ = live.set(f, $0) } }
        withBytes("f2") { _ = live.remove($0) }
        withBytes("brand-new") { f in withBytes("x") { _ = live.set(f, $0) } }
        #expect(withBytes("f1") { snapshot.withValue($0) { $0.map(text) } } == "v1")
        #expect(withBytes("f2") { snapshot.contains($0) })
        #expect(!withBytes("brand-new") { snapshot.contains($0) })
        #expect(snapshot.count == 20000)
        #expect(withBytes("f1") { live.withValue($0) { $0.map(text) } } == "changed")
        #expect(live.count == 20000)
        // Bounded: the three writes copied at most three segments; every other one is still shared.
        let before = Set(snapshot.segmentIdentities())
        let after = live.segmentIdentities()
        #expect(after.count >= 40)
        #expect(after.filter { !before.contains($0) }.count <= 3)
    }

    /// The table's incremental byte count agrees with a recount after collection writes, conversions and
    /// deletions, and a collection key's MEMORY USAGE grows with it.
    @Test func tableAccountsCollectionMemory() {
        var table = ShardTable()
        let limits = EncodingLimits.standard
        view("h") { key in
            table.insert(key, value: .hash(HashValue()), now: 0)
            let index = table.find(key)!
            let small = table.memoryUsage(at: index)
            for field in 0..<1000 {
                _ = withBytes("field\(field)") { f in
                    withBytes("value\(field)") { v in table.modifyHash(at: index) { $0.set(f, v, limits: limits) } }
                }
                if field == 10 || field == 999 { #expect(table.usedBytes == table.recomputedUsedBytes()) }
            }
            #expect(table.asHash(at: index)?.encodingName == "hashtable")
            #expect(table.memoryUsage(at: index) > small + 1000 * 20)
        }
        view("s") { key in
            table.insert(key, value: .set(SetValue.ints(IntSet())), now: 0)
            let index = table.find(key)!
            for member in 0..<600 {
                _ = withBytes(String(member)) { m in table.modifySet(at: index) { $0.add(m, limits: limits) } }
            }
            #expect(table.usedBytes == table.recomputedUsedBytes())
            #expect(table.modifyHash(at: index) { _ in 1 } == nil)
        }
        view("h") { table.remove($0) }
        view("s") { table.remove($0) }
        #expect(table.usedBytes == table.recomputedUsedBytes())
        #expect(table.usedBytes == ShardTable().usedBytes)
    }
}

@Suite struct ListValueTests {
    /// Random pushes, pops, inserts, replacements, trims and removals against an array, with chunk limits that
    /// make chunks split and empty all the time (elements and byte limits).
    @Test(arguments: [2, 5, -1])
    func listMatchesAReferenceArray(chunkLimit: Int) {
        var generator = SeededGenerator(seed: UInt64(chunkLimit + 10))
        let limits = EncodingLimits(listMaxListpackSize: chunkLimit)
        var list = ListValue()
        var reference: [[UInt8]] = []
        for step in 0..<4000 {
            let element = Array("e\(step)-".utf8) + Array(repeating: UInt8(ascii: "x"), count: Int.random(in: 0..<300, using: &generator))
            switch Int.random(in: 0..<10, using: &generator) {
            case 0, 1:
                element.withUnsafeBytes { list.push($0, at: .head, limits: limits) }
                reference.insert(element, at: 0)
            case 2, 3:
                element.withUnsafeBytes { list.push($0, at: .tail, limits: limits) }
                reference.append(element)
            case 4:
                #expect(list.pop(.head) == (reference.isEmpty ? nil : reference.removeFirst()))
            case 5:
                #expect(list.pop(.tail) == reference.popLast())
            case 6:
                let position = Int.random(in: 0...reference.count, using: &generator)
                element.withUnsafeBytes { list.insert($0, at: position, limits: limits) }
                reference.insert(element, at: position)
            case 7 where !reference.isEmpty:
                let position = Int.random(in: 0..<reference.count, using: &generator)
                element.withUnsafeBytes { list.replace(at: position, with: $0) }
                reference[position] = element
            case 8 where reference.count > 4:
                let positions = Array(Set((0..<3).map { _ in Int.random(in: 0..<reference.count, using: &generator) })).sorted()
                list.remove(atPositions: positions)
                for position in positions.reversed() { reference.remove(at: position) }
            case 9 where step % 50 == 0 && reference.count > 10:
                let range = 2..<(reference.count - 2)
                list.keep(range)
                reference = Array(reference[range])
            default:
                break
            }
            #expect(list.count == reference.count)
        }
        #expect(list.elements == reference)
        // Reads from every position, both directions.
        for position in stride(from: 0, to: reference.count, by: 7) {
            #expect(list.withElement(at: position) { Array($0) } == reference[position])
        }
        var backwards: [[UInt8]] = []
        list.forEach(from: reference.count - 1, reverse: true) { _, element in
            backwards.append(Array(element))
            return true
        }
        #expect(backwards == reference.reversed())
    }

    /// A copy (a snapshot's) never sees later pushes and pops, and those copy one chunk, not the list.
    @Test func copiesAreIndependentAndWritesCopyOneChunk() {
        var live = ListValue()
        for index in 0..<50000 { Array("element \(index)".utf8).withUnsafeBytes { live.push($0, at: .tail, limits: .standard) } }
        let snapshot = live
        #expect(live.chunkCount > 50)
        _ = live.pop(.head)
        Array("new".utf8).withUnsafeBytes { live.push($0, at: .tail, limits: .standard) }
        #expect(snapshot.count == 50000 && live.count == 50000)
        #expect(snapshot.withElement(at: 0) { Array($0) } == Array("element 0".utf8))
        #expect(live.withElement(at: 49999) { Array($0) } == Array("new".utf8))
        #expect(live.encodingName == "quicklist")
        let shared = Set(snapshot.chunkAddresses())
        #expect(live.chunkAddresses().filter { !shared.contains($0) }.count <= 2)
    }
}

@Suite struct SortedSetTests {
    /// Random adds, score changes and removals against a reference sorted array, in both encodings (small
    /// limits make it a table early, and the table's chunks split and empty many times).
    @Test(arguments: [128, 4])
    func sortedSetMatchesAReferenceOrder(packedEntries: Int) {
        var generator = SeededGenerator(seed: UInt64(packedEntries))
        let limits = EncodingLimits(zsetMaxListpackEntries: packedEntries)
        var zset = SortedSetValue()
        var reference: [String: Double] = [:]
        func ordered() -> [(String, Double)] {
            reference.sorted { a, b in
                a.value != b.value ? a.value < b.value : Array(a.key.utf8).lexicographicallyPrecedes(Array(b.key.utf8))
            }
        }
        for step in 0..<6000 {
            let member = "m\(Int.random(in: 0..<1500, using: &generator))"
            if Int.random(in: 0..<4, using: &generator) == 0 {
                #expect(withBytes(member) { zset.remove($0) } == (reference.removeValue(forKey: member) != nil))
            } else {
                let score = Double(Int.random(in: -50..<50, using: &generator)) / 4
                #expect(withBytes(member) { zset.set($0, score: score, limits: limits) } == (reference[member] == nil))
                reference[member] = score
            }
            #expect(zset.count == reference.count)
            if step % 500 == 0 || step == 5999 {
                let expected = ordered()
                let actual = zset.entries.map { (String(decoding: $0.member, as: UTF8.self), $0.score) }
                #expect(actual.map(\.0) == expected.map(\.0))
                #expect(actual.map(\.1) == expected.map(\.1))
                for (rank, entry) in expected.enumerated() where rank % 37 == 0 {
                    #expect(withBytes(entry.0) { zset.rank(of: $0) } == rank)
                    #expect(withBytes(entry.0) { zset.score(of: $0) } == entry.1)
                    var seen: String?
                    zset.forEach(from: rank) { _, member, _ in
                        seen = String(decoding: member, as: UTF8.self)
                        return false
                    }
                    #expect(seen == entry.0)
                }
                let threshold = 1.25
                #expect(zset.firstRank(scoreAbove: threshold, inclusive: true) == expected.firstIndex { $0.1 >= threshold } ?? expected.count)
                #expect(zset.firstRank(scoreAbove: threshold, inclusive: false) == expected.firstIndex { $0.1 > threshold } ?? expected.count)
            }
        }
        #expect(zset.encodingName == (packedEntries == 4 ? "skiplist" : "skiplist"))
        var backwards: [String] = []
        zset.forEach(from: zset.count - 1, reverse: true) { _, member, _ in
            backwards.append(String(decoding: member, as: UTF8.self))
            return true
        }
        #expect(backwards == ordered().map(\.0).reversed())
    }

    /// A copy (a snapshot's) never sees later writes, and a write copies the chunk it touches, not the set.
    @Test func tableCopiesAreIndependentAndBounded() {
        var live = SortedSetValue()
        for index in 0..<20000 { _ = withBytes("m\(index)") { live.set($0, score: Double(index), limits: .standard) } }
        let snapshot = live
        _ = withBytes("m5") { live.set($0, score: 5.5, limits: .standard) }
        _ = withBytes("m19999") { live.remove($0) }
        #expect(withBytes("m5") { snapshot.score(of: $0) } == 5 && snapshot.count == 20000)
        #expect(withBytes("m5") { live.score(of: $0) } == 5.5 && live.count == 19999)
        guard case .table(let before) = snapshot, case .table(let after) = live else {
            Issue.record("expected tables")
            return
        }
        let shared = Set(before.chunkAddresses())
        #expect(after.chunkAddresses().count > 100)
        #expect(after.chunkAddresses().filter { !shared.contains($0) }.count <= 2)
    }

    @Test func packedUntilRedisThresholds() {
        var zset = SortedSetValue()
        for index in 0..<128 { _ = withBytes("member\(index)") { zset.set($0, score: Double(index), limits: .standard) } }
        #expect(zset.encodingName == "listpack")
        _ = withBytes("one-more") { zset.set($0, score: 0, limits: .standard) }
        #expect(zset.encodingName == "skiplist")
        var long = SortedSetValue()
        _ = withBytes(String(repeating: "x", count: 65)) { long.set($0, score: 1, limits: .standard) }
        #expect(long.encodingName == "skiplist")
    }
}
