import Testing

@testable import ShoalStore

func view<R>(_ text: String, _ body: (KeyView) -> R) -> R { Key(text).withView(body) }

/// The store's own seeded generator, so a failing randomised case can be replayed.
typealias SeededGenerator = SamplingRandom

@Suite struct ShardTableTests {
    /// Random inserts, overwrites, deadline changes and removals, checked after every step against a plain
    /// dictionary: lookups, counts and the volatile index must always agree.
    @Test func randomOperationsMatchAReferenceDictionary() {
        var generator = SeededGenerator(seed: 7)
        var table = ShardTable()
        var reference: [String: Entry] = [:]
        for step in 0..<20000 {
            let name = "k\(Int.random(in: 0..<600, using: &generator))"
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<5:
                let entry = Entry(
                    value: .string(Array("v\(step)".utf8)),
                    expiresAt: Bool.random(using: &generator) ? Int64(step + 1) : 0)
                view(name) { table.set($0, entry, now: 0) }
                reference[name] = entry
            case 5..<8:
                let removed = view(name) { table.remove($0) }
                #expect(removed == reference.removeValue(forKey: name))
            default:
                if let index = view(name, { table.find($0) }) {
                    let deadline: Int64 = Bool.random(using: &generator) ? Int64(step + 5) : 0
                    table.setExpiry(at: index, deadline)
                    reference[name]?.expiresAt = deadline
                }
            }
            #expect(table.count == reference.count)
            #expect(table.volatileCount == reference.values.filter { $0.expiresAt != 0 }.count)
        }
        for (name, entry) in reference {
            #expect(view(name) { table.find($0).map { table.entry(at: $0) } } == entry)
        }
        // Sampling volatile keys only ever returns keys with a deadline.
        for _ in 0..<100 {
            if let index = table.randomVolatileIndex(using: &generator) {
                #expect(table.entry(at: index).expiresAt != 0)
            }
        }
    }

    @Test func lookupHidesExpiredKeysAndWriterLookupRemovesThem() {
        var table = ShardTable()
        view("gone") { table.set($0, Entry(value: .string([1]), expiresAt: 100), now: 0) }
        view("kept") { table.set($0, Entry(value: .string([2]), expiresAt: 0), now: 0) }
        #expect(view("gone") { table.lookup($0, now: 99) } != nil)
        #expect(view("gone") { table.lookup($0, now: 100) } == nil)
        #expect(table.count == 2)
        #expect(view("gone") { table.lookupForWrite($0, now: 100) } == nil)
        #expect(table.count == 1)
        #expect(table.expiredCount == 1)
    }

    /// Redis's SCAN guarantee: a key present for the whole walk is returned, even when the table grows or
    /// shrinks between steps.
    @Test(arguments: [true, false])
    func scanReturnsEveryKeyPresentThroughoutDespiteResizing(growing: Bool) {
        var table = ShardTable()
        let stable = (0..<300).map { "stable\($0)" }
        for name in stable { view(name) { table.set($0, Entry(value: .string([])), now: 0) } }
        var churn = growing ? 0 : 3000
        if !growing { for i in 0..<3000 { view("churn\(i)") { table.set($0, Entry(value: .string([])), now: 0) } } }
        var seen = Set<String>()
        var cursor: UInt64 = 0
        var steps = 0
        repeat {
            cursor = table.scan(cursor: cursor) { seen.insert(table.key(at: $0).description) }
            // Resize between the first steps: add or remove 40 keys each time (several doublings or halvings).
            for _ in 0..<(steps < 50 ? 40 : 0) {
                if growing {
                    view("churn\(churn)") { table.set($0, Entry(value: .string([])), now: 0) }
                    churn += 1
                } else if churn > 0 {
                    churn -= 1
                    _ = view("churn\(churn)") { table.remove($0) }
                }
            }
            steps += 1
        } while cursor != 0 && steps < 100_000
        #expect(cursor == 0)
        #expect(Set(stable).subtracting(seen).sorted() == [])
    }

    @Test func copiesAreIndependent() {
        var table = ShardTable()
        view("a") { table.set($0, Entry(value: .string([1])), now: 0) }
        let snapshot = table
        view("a") { table.set($0, Entry(value: .string([2])), now: 0) }
        view("b") { table.set($0, Entry(value: .string([3])), now: 0) }
        #expect(snapshot.count == 1)
        #expect(view("a") { snapshot.find($0).map { snapshot.entry(at: $0).value } } == .string([1]))
    }

    /// Keys and values on both sides of the inline limit (38 bytes shared by key and value), written through
    /// every mutation path, including values that grow out of the node (APPEND) and shrink back into it (SET).
    /// After every step the table must agree with a dictionary, and the incremental memory accounting with a
    /// recount.
    @Test func inlineAndOutOfLineStorageAgreeWithAReference() {
        var generator = SeededGenerator(seed: 11)
        var table = ShardTable()
        var reference: [[UInt8]: [UInt8]] = [:]
        func bytes(_ length: Int, _ seed: Int) -> [UInt8] {
            (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) }
        }
        // A few keys of each interesting length: empty, short, exactly at the limit, just past it, long.
        let keys = [0, 1, 12, 37, 38, 39, 60].flatMap { length in (0..<4).map { bytes(length, $0) } }
        for step in 0..<20000 {
            let key = keys[Int.random(in: 0..<keys.count, using: &generator)]
            let length = [0, 1, 16, 26, 37, 38, 39, 100][Int.random(in: 0..<8, using: &generator)]
            let value = bytes(length, step)
            key.withUnsafeBytes { raw in
                let view = KeyView(raw)
                switch Int.random(in: 0..<5, using: &generator) {
                case 0:
                    value.withUnsafeBytes { _ = table.setString(view, $0, now: 0) }
                    reference[key] = value
                case 1:
                    table.set(view, Entry(value: .string(value)), now: 0)
                    reference[key] = value
                case 2:
                    if let index = table.find(view) {
                        table.modifyValue(at: index) { stored in
                            if case .string(var old) = stored {
                                old.append(contentsOf: value)
                                stored = .string(old)
                            }
                        }
                        reference[key]! += value
                    }
                case 3:
                    #expect(table.remove(view)?.value == reference.removeValue(forKey: key).map { .string($0) })
                default:
                    if let index = table.find(view) {
                        #expect(table.withKeyBytes(at: index) { Array($0) } == key)
                        #expect(table.withStringBytes(at: index) { Array($0) } == reference[key])
                    } else {
                        #expect(reference[key] == nil)
                    }
                }
            }
            #expect(table.count == reference.count)
            #expect(table.usedBytes == table.recomputedUsedBytes())
        }
        for (key, value) in reference {
            let index = key.withUnsafeBytes { table.find(KeyView($0)) }
            #expect(index.map { table.value(at: $0) } == .string(value))
            #expect(index.map { table.key(at: $0).bytes } == key)
        }
    }
}
