import Testing

@testable import ShoalStore

@Suite struct HyperLogLogTests {
    private func add(_ hll: inout HyperLogLog, _ element: String, limit: Int) -> Int {
        Array(element.utf8).withUnsafeBytes { hll.add($0, sparseMaxBytes: limit) }
    }

    /// Redis's empty HLL: the header, then one XZERO opcode covering all 16384 registers.
    @Test func emptyIsRedisBytes() {
        let empty = HyperLogLog()
        #expect(empty.bytes == Array("HYLL".utf8) + [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 0xFF])
        #expect(empty.count() == 0)
        #expect(empty.sparseDescription == "Z:16384")
    }

    /// MurmurHash64A as Redis computes it: for `PFADD h a`, redis-server 7.0's `PFDEBUG DECODE h` answers
    /// "Z:12711 v:2,1 Z:3672".
    @Test func hashMatchesRedis() {
        var hll = HyperLogLog()
        #expect(add(&hll, "a", limit: 3000) == 1)
        #expect(add(&hll, "a", limit: 3000) == 0)
        #expect(hll.sparseDescription == "Z:12711 v:2,1 Z:3672")
        #expect(hll.count() == 1)
    }

    /// The same elements give the same estimate sparse or dense, within the 0.81% standard error (4 sigma).
    @Test func sparseAndDenseAgreeWithinTheStandardError() {
        var sparse = HyperLogLog()
        var dense = HyperLogLog()
        let converted = dense.makeDense()
        #expect(converted)
        for number in 0..<20_000 {
            _ = add(&sparse, "element:\(number)", limit: 3000)
            _ = add(&dense, "element:\(number)", limit: 3000)
            if number == 999 { #expect(sparse.count() == dense.count()) }
        }
        #expect(!sparse.isSparse)  // promoted on the way
        #expect(sparse.bytes.count == HyperLogLog.denseSize)
        let estimate = Double(dense.count() ?? 0)
        #expect(abs(estimate - 20_000) / 20_000 < 4 * 0.0081)
        #expect(sparse.registers == dense.registers)
    }

    @Test func corruptSparseBodiesAreRefused() {
        var hll = HyperLogLog()
        hll.bytes.append(0)  // one register too many
        #expect(hll.count() == nil)
        var registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        #expect(!hll.merge(into: &registers))
        let converted = hll.makeDense()
        #expect(!converted)
        #expect(HyperLogLog(validating: Array("HYLL".utf8) + [2] + [UInt8](repeating: 0, count: 11)) == nil)
        #expect(HyperLogLog(validating: Array("HYLL".utf8) + [0] + [UInt8](repeating: 0, count: 11)) == nil)
    }
}
