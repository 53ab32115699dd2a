#if canImport(Glibc)
    import Glibc
#endif

/// A HyperLogLog in Redis's byte format, so the string a key holds is the same bytes redis-server would hold
/// (GET, DUMP/RESTORE and snapshots move it between the two and it counts the same).
///
/// The layout: a 16-byte header (`HYLL`, the encoding byte, 3 unused bytes, the cached cardinality as a
/// little-endian 64-bit integer whose top bit marks it stale), then 16384 registers of 6 bits, either dense
/// (12288 bytes, registers packed from each byte's least significant bit) or sparse: run-length opcodes ZERO
/// `00xxxxxx` (1–64 zero registers), XZERO `01xxxxxx yyyyyyyy` (1–16384 zeros) and VAL `1vvvvvxx` (1–4
/// registers of value 1–32). A sparse HLL becomes dense when a register needs a value above 32 or its string
/// would grow past `hll-sparse-max-bytes`.
///
/// The hash is MurmurHash64A (seed 0xadc83b19); the estimate is Otmar Ertl's improved estimator over the
/// register histogram, as in Redis 5 and later: standard error 1.04/sqrt(16384) = 0.81%.
public struct HyperLogLog {
    public static let precision = 14
    public static let registerCount = 1 << precision
    static let registerBits = 6
    static let registerMax: UInt8 = (1 << 6) - 1
    static let headerSize = 16
    public static let denseSize = headerSize + (registerCount * registerBits + 7) / 8
    static let dense: UInt8 = 0
    static let sparse: UInt8 = 1
    static let sparseValueMax = 32
    static let sparseValueMaxRun = 4
    static let zeroMaxRun = 64
    static let xzeroMaxRun = 16384

    /// The whole string value.
    public var bytes: [UInt8]

    /// An empty HLL, sparse: one XZERO covering every register.
    public init() {
        bytes = Array("HYLL".utf8) + [Self.sparse, 0, 0, 0] + [UInt8](repeating: 0, count: 8)
        Self.appendXZero(&bytes, Self.registerCount)
    }

    /// Wraps a string value that passes Redis's isHLLObjectOrReply checks (magic, encoding, dense size); nil
    /// otherwise. A sparse body is only checked when it is read.
    public init?(validating bytes: [UInt8]) {
        guard Self.isValid(bytes) else { return nil }
        self.bytes = bytes
    }

    public static func isValid(_ bytes: some Collection<UInt8>) -> Bool {
        guard bytes.count >= headerSize else { return false }
        let magic = bytes.prefix(4)
        guard magic.elementsEqual("HYLL".utf8) else { return false }
        let encoding = bytes[bytes.index(bytes.startIndex, offsetBy: 4)]
        guard encoding <= sparse else { return false }
        return encoding != dense || bytes.count == denseSize
    }

    public var isSparse: Bool { bytes[4] == Self.sparse }

    // MARK: - The cached cardinality

    /// The cached cardinality, or nil when stale.
    public var cachedCardinality: UInt64? {
        guard bytes[15] & 0x80 == 0 else { return nil }
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[8 + $1]) << (8 * UInt64($1)) }
    }

    public mutating func cache(_ cardinality: UInt64) {
        for index in 0..<8 { bytes[8 + index] = UInt8(truncatingIfNeeded: cardinality >> (8 * UInt64(index))) }
    }

    public mutating func invalidateCache() { bytes[15] |= 0x80 }

    // MARK: - Hashing

    /// MurmurHash64A, endian-neutral as in Redis.
    static func murmur64A(_ data: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let m: UInt64 = 0xc6a4_a793_5bd1_e995
        let r: UInt64 = 47
        var h = seed ^ (UInt64(data.count) &* m)
        let blocks = data.count / 8
        for block in 0..<blocks {
            var k = UInt64(littleEndian: data.loadUnaligned(fromByteOffset: block * 8, as: UInt64.self))
            k = k &* m
            k ^= k >> r
            k = k &* m
            h ^= k
            h = h &* m
        }
        let tail = blocks * 8
        let rest = data.count & 7
        if rest > 0 {
            for position in stride(from: rest - 1, through: 0, by: -1) {
                h ^= UInt64(data[tail + position]) << (8 * UInt64(position))
            }
            h = h &* m
        }
        h ^= h >> r
        h = h &* m
        h ^= h >> r
        return h
    }

    /// The register an element falls in and the length of its hash's 000..1 pattern (Redis's hllPatLen).
    static func pattern(_ element: UnsafeRawBufferPointer) -> (register: Int, count: UInt8) {
        var hash = murmur64A(element, seed: 0xadc8_3b19)
        let register = Int(hash & UInt64(registerCount - 1))
        hash >>= UInt64(precision)
        hash |= 1 << UInt64(64 - precision)
        return (register, UInt8(hash.trailingZeroBitCount + 1))
    }

    // MARK: - Dense registers

    static func denseRegister(_ bytes: UnsafeRawBufferPointer, _ register: Int) -> UInt8 {
        let bit = register * registerBits
        let byte = headerSize + bit / 8
        let shift = bit & 7
        let low = Int(bytes[byte]) >> shift
        let high = byte + 1 < bytes.count ? Int(bytes[byte + 1]) << (8 - shift) : 0
        return UInt8((low | high) & Int(registerMax))
    }

    static func setDenseRegister(_ bytes: inout [UInt8], _ register: Int, _ value: UInt8) {
        let bit = register * registerBits
        let byte = headerSize + bit / 8
        let shift = bit & 7
        let wide = Int(value)
        bytes[byte] &= ~UInt8(truncatingIfNeeded: Int(registerMax) << shift)
        bytes[byte] |= UInt8(truncatingIfNeeded: wide << shift)
        if byte + 1 < bytes.count {
            bytes[byte + 1] &= ~UInt8(truncatingIfNeeded: Int(registerMax) >> (8 - shift))
            bytes[byte + 1] |= UInt8(truncatingIfNeeded: wide >> (8 - shift))
        }
    }

    // MARK: - Sparse opcodes

    static func appendXZero(_ bytes: inout [UInt8], _ run: Int) {
        bytes.append(UInt8((run - 1) >> 8) | 0x40)
        bytes.append(UInt8((run - 1) & 0xFF))
    }

    static func zeroOrXZero(_ run: Int) -> [UInt8] {
        if run > zeroMaxRun {
            var opcode: [UInt8] = []
            appendXZero(&opcode, run)
            return opcode
        }
        return [UInt8(run - 1)]
    }

    static func valueOpcode(_ value: Int, _ run: Int) -> UInt8 { UInt8((value - 1) << 2 | (run - 1)) | 0x80 }

    /// One opcode at `position`: its kind, the registers it covers, its value and its length in bytes.
    enum Opcode {
        case zeros(run: Int, length: Int)
        case value(UInt8, run: Int)

        var run: Int {
            switch self {
            case .zeros(let run, _), .value(_, let run): return run
            }
        }
        var length: Int {
            switch self {
            case .zeros(_, let length): return length
            case .value: return 1
            }
        }
    }

    static func opcode(_ bytes: some RandomAccessCollection<UInt8>, at position: Int) -> Opcode {
        let first = Int(bytes[bytes.index(bytes.startIndex, offsetBy: position)])
        if first & 0xC0 == 0 { return .zeros(run: (first & 0x3F) + 1, length: 1) }
        if first & 0x80 != 0 { return .value(UInt8((first >> 2) & 0x1F) + 1, run: (first & 0x3) + 1) }
        let next = position + 1 < bytes.count ? Int(bytes[bytes.index(bytes.startIndex, offsetBy: position + 1)]) : 0
        return .zeros(run: ((first & 0x3F) << 8 | next) + 1, length: 2)
    }

    /// Calls `body(firstRegister, value, run)` for each VAL run of a sparse body (zero runs are skipped but
    /// counted); false when the opcodes are corrupt (they overflow or don't cover exactly every register).
    static func forEachSparseRun(_ bytes: some RandomAccessCollection<UInt8>, _ body: (Int, UInt8, Int) -> Void)
        -> Bool
    {
        var position = headerSize
        var register = 0
        while position < bytes.count {
            let code = opcode(bytes, at: position)
            guard register + code.run <= registerCount else { return false }
            if case .value(let value, let run) = code { body(register, value, run) }
            register += code.run
            position += code.length
        }
        return register == registerCount
    }

    // MARK: - Adding

    /// Adds an element: 1 if a register changed (the estimate may have), 0 if not, -1 for a corrupt sparse HLL.
    public mutating func add(_ element: UnsafeRawBufferPointer, sparseMaxBytes: Int) -> Int {
        let (register, count) = Self.pattern(element)
        return set(register, count, sparseMaxBytes: sparseMaxBytes)
    }

    /// Raises `register` to `count` if it is lower (Redis's hllDenseSet / hllSparseSet).
    mutating func set(_ register: Int, _ count: UInt8, sparseMaxBytes: Int) -> Int {
        if isSparse {
            return sparseSet(register, count, sparseMaxBytes: sparseMaxBytes)
        }
        let old = bytes.withUnsafeBytes { Self.denseRegister($0, register) }
        guard count > old else { return 0 }
        Self.setDenseRegister(&bytes, register, count)
        return 1
    }

    /// Rewrites a sparse HLL as dense; false (and unchanged) when the sparse body is corrupt.
    public mutating func makeDense() -> Bool {
        guard isSparse else { return true }
        var dense = Array(bytes[0..<Self.headerSize]) + [UInt8](repeating: 0, count: Self.denseSize - Self.headerSize)
        dense[4] = Self.dense
        let valid = Self.forEachSparseRun(bytes) { first, value, run in
            for register in first..<(first + run) { Self.setDenseRegister(&dense, register, value) }
        }
        guard valid else { return false }
        bytes = dense
        return true
    }

    private mutating func promote(_ register: Int, _ count: UInt8) -> Int {
        guard makeDense() else { return -1 }
        return set(register, count, sparseMaxBytes: 0)
    }

    private mutating func sparseSet(_ register: Int, _ count: UInt8, sparseMaxBytes: Int) -> Int {
        if Int(count) > Self.sparseValueMax { return promote(register, count) }
        // Step 1: the opcode covering the register, the one before it, and the first register it covers.
        var position = Self.headerSize
        var first = 0
        var previous: Int?
        var found: Opcode?
        while position < bytes.count {
            let code = Self.opcode(bytes, at: position)
            if register <= first + code.run - 1 {
                found = code
                break
            }
            previous = position
            position += code.length
            first += code.run
        }
        guard let code = found, code.run > 0 else { return -1 }
        let last = first + code.run - 1
        var replacement: [UInt8]
        switch code {
        case .value(let value, let run):
            if value >= count { return 0 }
            if run == 1 {
                bytes[position] = Self.valueOpcode(Int(count), 1)
                return mergeAdjacentValues(from: previous ?? Self.headerSize)
            }
            replacement = []
            if register != first { replacement.append(Self.valueOpcode(Int(value), register - first)) }
            replacement.append(Self.valueOpcode(Int(count), 1))
            if register != last { replacement.append(Self.valueOpcode(Int(value), last - register)) }
        case .zeros(let run, let length):
            if run == 1 && length == 1 {
                bytes[position] = Self.valueOpcode(Int(count), 1)
                return mergeAdjacentValues(from: previous ?? Self.headerSize)
            }
            replacement = []
            if register != first { replacement += Self.zeroOrXZero(register - first) }
            replacement.append(Self.valueOpcode(Int(count), 1))
            if register != last { replacement += Self.zeroOrXZero(last - register) }
        }
        // Step 3: splice the new opcodes in, unless the string would outgrow the sparse limit.
        let growth = replacement.count - code.length
        if growth > 0 && bytes.count + growth > sparseMaxBytes { return promote(register, count) }
        bytes.replaceSubrange(position..<(position + code.length), with: replacement)
        return mergeAdjacentValues(from: previous ?? Self.headerSize)
    }

    /// Step 4 of Redis's hllSparseSet: joins adjacent VAL opcodes of one value (up to 4 registers), looking
    /// at most 5 opcodes from `start`. Returns 1 (the register was set) and marks the cache stale.
    private mutating func mergeAdjacentValues(from start: Int) -> Int {
        var position = start
        var budget = 5
        while position < bytes.count && budget > 0 {
            budget -= 1
            let code = Self.opcode(bytes, at: position)
            guard case .value(let value, let run) = code else {
                position += code.length
                continue
            }
            if position + 1 < bytes.count, case .value(let nextValue, let nextRun) = Self.opcode(bytes, at: position + 1),
                nextValue == value, run + nextRun <= Self.sparseValueMaxRun
            {
                bytes[position + 1] = Self.valueOpcode(Int(value), run + nextRun)
                bytes.remove(at: position)
                continue
            }
            position += 1
        }
        invalidateCache()
        return 1
    }

    // MARK: - Counting and merging

    /// Raises each of `registers` (16384 bytes, one per register) to this HLL's; false for a corrupt sparse HLL.
    public func merge(into registers: inout [UInt8]) -> Bool {
        if isSparse {
            return Self.forEachSparseRun(bytes) { first, value, run in
                for register in first..<(first + run) where value > registers[register] { registers[register] = value }
            }
        }
        bytes.withUnsafeBytes { raw in
            for register in 0..<Self.registerCount {
                let value = Self.denseRegister(raw, register)
                if value > registers[register] { registers[register] = value }
            }
        }
        return true
    }

    /// The estimated cardinality; nil for a corrupt sparse HLL.
    public func count() -> UInt64? {
        var histogram = [Int](repeating: 0, count: 64)
        if isSparse {
            var covered = 0
            let valid = Self.forEachSparseRun(bytes) { _, value, run in
                histogram[Int(value)] += run
                covered += run
            }
            guard valid else { return nil }
            histogram[0] += Self.registerCount - covered
        } else {
            bytes.withUnsafeBytes { raw in
                for register in 0..<Self.registerCount { histogram[Int(Self.denseRegister(raw, register))] += 1 }
            }
        }
        return Self.estimate(histogram)
    }

    /// The estimate of the union whose registers are `registers` (one byte each).
    public static func count(registers: [UInt8]) -> UInt64 {
        var histogram = [Int](repeating: 0, count: 64)
        for value in registers { histogram[Int(value)] += 1 }
        return estimate(histogram)
    }

    /// Ertl's estimator ("New cardinality estimation algorithms for HyperLogLog sketches", arXiv:1702.01284).
    static func estimate(_ histogram: [Int]) -> UInt64 {
        let m = Double(registerCount)
        let q = 64 - precision
        var z = m * tau((m - Double(histogram[q + 1])) / m)
        for j in stride(from: q, through: 1, by: -1) {
            z += Double(histogram[j])
            z *= 0.5
        }
        z += m * sigma(Double(histogram[0]) / m)
        let alphaInfinity = 0.721347520444481703680  // 0.5 / ln 2
        return UInt64((alphaInfinity * m * m / z).rounded(.toNearestOrAwayFromZero))
    }

    static func sigma(_ start: Double) -> Double {
        if start == 1 { return .infinity }
        var x = start
        var y = 1.0
        var z = x
        var previous: Double
        repeat {
            x *= x
            previous = z
            z += x * y
            y += y
        } while previous != z
        return z
    }

    static func tau(_ start: Double) -> Double {
        if start == 0 || start == 1 { return 0 }
        var x = start
        var y = 1.0
        var z = 1 - x
        var previous: Double
        repeat {
            x = x.squareRoot()
            previous = z
            y *= 0.5
            z -= pow(1 - x, 2) * y
        } while previous != z
        return z / 3
    }

    /// Writes `registers` (one byte each) into this HLL (PFMERGE's destination), keeping its encoding when it
    /// can; false for a corrupt sparse HLL.
    public mutating func store(registers: [UInt8], dense: Bool, sparseMaxBytes: Int) -> Bool {
        if dense && !makeDense() { return false }
        for (register, value) in registers.enumerated() where value != 0 {
            _ = set(register, value, sparseMaxBytes: sparseMaxBytes)
        }
        invalidateCache()
        return true
    }

    /// PFDEBUG DECODE's text: `z:<run>`, `Z:<run>`, `v:<value>,<run>` per opcode.
    public var sparseDescription: String {
        var words: [String] = []
        var position = Self.headerSize
        while position < bytes.count {
            let code = Self.opcode(bytes, at: position)
            switch code {
            case .zeros(let run, let length): words.append("\(length == 1 ? "z" : "Z"):\(run)")
            case .value(let value, let run): words.append("v:\(value),\(run)")
            }
            position += code.length
        }
        return words.joined(separator: " ")
    }

    /// Every register's value (PFDEBUG GETREG), dense.
    public var registers: [UInt8] {
        bytes.withUnsafeBytes { raw in (0..<Self.registerCount).map { Self.denseRegister(raw, $0) } }
    }
}
