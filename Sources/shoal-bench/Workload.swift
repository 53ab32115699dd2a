import RESP

/// Picks keys (uniform or Zipf) and commands (by weight), and knows the value each key must hold, so GETs
/// can be verified.
struct Workload {
    let options: Options
    private let zipfCDF: [Double]?
    private let weights: [(Operation, Int)]
    private let totalWeight: Int

    init(options: Options) {
        self.options = options
        weights = options.mix.filter { $0.1 > 0 }
        totalWeight = weights.reduce(0) { $0 + $1.1 }
        if let s = options.zipf {
            var cumulative = [Double](repeating: 0, count: options.keyspace)
            var running = 0.0
            for rank in 0..<options.keyspace {
                running += 1.0 / pow(Double(rank + 1), s)
                cumulative[rank] = running
            }
            zipfCDF = cumulative.map { $0 / running }
        } else {
            zipfCDF = nil
        }
    }

    func key<G: RandomNumberGenerator>(using generator: inout G) -> Int {
        guard let cdf = zipfCDF else { return Int.random(in: 0..<options.keyspace, using: &generator) }
        let draw = Double.random(in: 0..<1, using: &generator)
        var low = 0
        var high = cdf.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cdf[middle] < draw { low = middle + 1 } else { high = middle }
        }
        // Spread popular ranks over the key space so they don't share a prefix (or a shard).
        return (low &* 2_654_435_761) % options.keyspace
    }

    func operation<G: RandomNumberGenerator>(using generator: inout G) -> Operation {
        var pick = Int.random(in: 0..<totalWeight, using: &generator)
        for (operation, weight) in weights {
            if pick < weight { return operation }
            pick -= weight
        }
        return weights[0].0
    }

    /// `bench:%012d`: a prefix of its own, so another tool's keys (redis-benchmark writes `key:%012d` with its
    /// own values) are never mistaken for wrong answers in verify mode.
    static func keyName(_ key: Int) -> [UInt8] { withKeyName(key) { Array($0) } }

    static let crlf: [UInt8] = [0x0D, 0x0A]
    static let setPrefix = Array("*3\r\n$3\r\nSET\r\n".utf8)
    static let getPrefix = Array("*2\r\n$3\r\nGET\r\n".utf8)

    /// Lends `keyName(key)`, formatted on the stack: `bench:` and the number, zero-padded to 12 digits.
    static func withKeyName<R>(_ key: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
            for (offset, byte) in "bench:".utf8.enumerated() { buffer[offset] = byte }
            var digits = 1
            var rest = key / 10
            while rest > 0 {
                digits += 1
                rest /= 10
            }
            let width = max(12, digits)
            var value = key
            for position in stride(from: 6 + width - 1, through: 6, by: -1) {
                buffer[position] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            return body(UnsafeRawBufferPointer(start: buffer.baseAddress, count: 6 + width))
        }
    }

    /// `$<length>\r\n<key name>\r\n`.
    private func appendKeyArgument(_ key: Int, into bytes: inout [UInt8]) {
        Self.withKeyName(key) { name in
            bytes.append(UInt8(ascii: "$"))
            bytes.appendDecimal(Int64(name.count))
            bytes.append(contentsOf: Self.crlf)
            bytes.append(contentsOf: name)
            bytes.append(contentsOf: Self.crlf)
        }
    }

    /// The value SET writes for `key`: its name repeated to the value size, so a GET can be checked.
    func value(for key: Int) -> [UInt8] {
        var value: [UInt8] = []
        value.reserveCapacity(options.valueSize)
        appendValue(for: key, into: &value)
        return value
    }

    /// `value(for:)`'s bytes, appended in place.
    private func appendValue(for key: Int, into bytes: inout [UInt8]) {
        Self.withKeyName(key) { name in
            var remaining = options.valueSize
            while remaining > 0 {
                let take = min(name.count, remaining)
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: name[0..<take]))
                remaining -= take
            }
        }
    }

    /// Encodes one request into `bytes` and appends what each of its correct replies looks like.
    func encode<G: RandomNumberGenerator>(
        into bytes: inout [UInt8], expecting expectations: inout [Expectation], using generator: inout G
    ) {
        let operation = operation(using: &generator)
        if case .tx = operation {
            let first = key(using: &generator)
            let second = key(using: &generator)
            bytes.appendCommand([Array("MULTI".utf8)])
            bytes.appendCommand([Array("SET".utf8), Self.keyName(first), value(for: first)])
            bytes.appendCommand([Array("SET".utf8), Self.keyName(second), value(for: second)])
            bytes.appendCommand([Array("EXEC".utf8)])
            expectations += [.ok, .queued, .queued, .okArray(2)]
            return
        }
        expectations.append(encodeSingle(operation, into: &bytes, using: &generator))
    }

    /// Encodes one single-command request; returns what a correct reply looks like.
    private func encodeSingle<G: RandomNumberGenerator>(
        _ operation: Operation, into bytes: inout [UInt8], using generator: inout G
    ) -> Expectation {
        let key = key(using: &generator)
        switch operation {
        case .set:
            // GET and SET are written byte by byte, with no array per argument: at pipeline 16 the generator's
            // own encoding (and reply parsing) must not be what limits the server it drives.
            bytes.append(contentsOf: Self.setPrefix)
            appendKeyArgument(key, into: &bytes)
            bytes.append(UInt8(ascii: "$"))
            bytes.appendDecimal(Int64(options.valueSize))
            bytes.append(contentsOf: Self.crlf)
            appendValue(for: key, into: &bytes)
            bytes.append(contentsOf: Self.crlf)
            return .ok
        case .get:
            bytes.append(contentsOf: Self.getPrefix)
            appendKeyArgument(key, into: &bytes)
            return .value(key)
        case .incr:
            bytes.appendCommand([Array("INCR".utf8), Array("counter:".utf8) + Self.keyName(key)])
            return .integer
        case .mset:
            var arguments = [Array("MSET".utf8)]
            for offset in 0..<10 {
                let other = (key + offset) % options.keyspace
                arguments += [Self.keyName(other), value(for: other)]
            }
            bytes.appendCommand(arguments)
            return .ok
        case .tx:
            preconditionFailure("encoded by encode(into:expecting:using:)")
        }
    }
}

enum Expectation {
    case ok
    case queued
    /// EXEC's array of `count` OKs.
    case okArray(Int)
    case integer
    /// nil, or exactly the value SET writes for this key.
    case value(Int)
}

#if canImport(Glibc)
    import Glibc
#endif
