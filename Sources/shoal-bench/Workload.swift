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
    static func keyName(_ key: Int) -> [UInt8] {
        let digits = String(key)
        return Array(("bench:" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits).utf8)
    }

    /// The value SET writes for `key`: its name repeated to the value size, so a GET can be checked.
    func value(for key: Int) -> [UInt8] {
        let name = Self.keyName(key)
        var value: [UInt8] = []
        value.reserveCapacity(options.valueSize)
        while value.count < options.valueSize { value.append(contentsOf: name.prefix(options.valueSize - value.count)) }
        return value
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
            bytes.appendCommand([Array("SET".utf8), Self.keyName(key), value(for: key)])
            return .ok
        case .get:
            bytes.appendCommand([Array("GET".utf8), Self.keyName(key)])
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
