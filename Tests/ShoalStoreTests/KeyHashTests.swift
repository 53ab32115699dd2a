import Testing

@testable import ShoalStore

@Suite struct KeyHashTests {
    private func hash(_ text: String, key: (UInt64, UInt64) = (0, 0)) -> UInt64 {
        Array(text.utf8).withUnsafeBytes { sipHash13($0, key: key) }
    }

    /// SipHash-1-3 under the zero key, as CPython 3.11 computes `hash(bytes)` with PYTHONHASHSEED=0 (its
    /// algorithm is siphash13 too): every length path (a partial word only, one word and a tail, four words
    /// and a tail).
    @Test func matchesAReferenceImplementation() {
        #expect(hash("a") == 4_644_417_185_603_328_019)
        #expect(hash("key:000000000001") == 8_690_987_093_943_848_202)
        #expect(hash("hello world, a longer key of 33b") == 13_999_211_314_533_113_964)
    }

    @Test func dependsOnTheKeyAndEveryByte() {
        #expect(hash("key:000000000001", key: (1, 0)) != hash("key:000000000001"))
        #expect(hash("key:000000000001", key: (0, 1)) != hash("key:000000000001"))
        #expect(hash("key:000000000002") != hash("key:000000000001"))
        #expect(hash("a\u{0}") != hash("a"))
        // The process's own key is random, so two runs place keys differently; within one it is stable.
        let first = Array("k".utf8).withUnsafeBytes { hashKey($0) }
        #expect(Array("k".utf8).withUnsafeBytes { hashKey($0) } == first)
    }
}
