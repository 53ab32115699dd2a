#if canImport(Glibc)
    import Glibc
#endif

/// One operation on a single-key register as a client saw it: what it did, what it got back, and when it was
/// invoked and when its reply arrived (monotonic nanoseconds).
struct RegisterOperation: CustomStringConvertible {
    enum Kind {
        /// SET key value → OK
        case set(Int64)
        /// GET key → the value, or nil for no key
        case get(Int64?)
        /// INCR key → the value after the increment
        case incr(Int64)
    }

    let kind: Kind
    let client: Int
    let invoked: UInt64
    let returned: UInt64

    var description: String {
        switch kind {
        case .set(let value): return "c\(client) SET \(value) [\(invoked), \(returned)]"
        case .get(let value): return "c\(client) GET -> \(value.map(String.init) ?? "nil") [\(invoked), \(returned)]"
        case .incr(let value): return "c\(client) INCR -> \(value) [\(invoked), \(returned)]"
        }
    }
}

/// Decides whether a history of register operations is linearizable: whether some total order of the
/// operations, consistent with real time (an operation that returned before another was invoked comes first),
/// explains every reply with a sequential register that starts empty.
///
/// The search is Wing & Gong's, with the memoisation of Lowe ("Testing for linearizability", 2017) that also
/// underlies Knossos and Porcupine: linearize any operation invoked before the earliest pending reply, apply it
/// to the model, and recurse; a (set of linearized operations, model state) pair that failed once is never
/// explored again.
enum LinearizabilityChecker {
    struct Visit: Hashable {
        let done: [UInt64]
        let value: Int64?
    }

    static func isLinearizable(_ history: [RegisterOperation]) -> Bool {
        let operations = history.sorted { $0.invoked < $1.invoked }
        var done = [UInt64](repeating: 0, count: (operations.count + 63) / 64)
        var failed = Set<Visit>()

        func isDone(_ index: Int) -> Bool { done[index / 64] & (1 << UInt64(index % 64)) != 0 }
        func toggle(_ index: Int) { done[index / 64] ^= 1 << UInt64(index % 64) }

        /// The register after `operation` from `value`, or nil when the operation's reply contradicts it.
        func apply(_ operation: RegisterOperation, to value: Int64?) -> Int64?? {
            switch operation.kind {
            case .set(let written): return .some(written)
            case .get(let seen): return seen == value ? .some(value) : nil
            case .incr(let result): return result == (value ?? 0) + 1 ? .some(result) : nil
            }
        }

        func search(_ value: Int64?, remaining: Int) -> Bool {
            if remaining == 0 { return true }
            let visit = Visit(done: done, value: value)
            if failed.contains(visit) { return false }
            var earliestReturn = UInt64.max
            for index in operations.indices where !isDone(index) {
                earliestReturn = min(earliestReturn, operations[index].returned)
            }
            for index in operations.indices where !isDone(index) {
                if operations[index].invoked > earliestReturn { break }  // sorted by invocation
                guard let next = apply(operations[index], to: value) else { continue }
                toggle(index)
                let found = search(next, remaining: remaining - 1)
                toggle(index)
                if found { return true }
            }
            failed.insert(visit)
            return false
        }

        return search(nil, remaining: operations.count)
    }
}

func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
