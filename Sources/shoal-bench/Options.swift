/// shoal-bench's command line.
struct Options {
    var host = "127.0.0.1"
    var port = 6379
    var password: String?
    var connections = 50
    var threads = 2
    var pipeline = 1
    var requests: Int? = 100_000
    var duration: Double?
    var warmup = 0.0
    var keyspace = 100_000
    var zipf: Double?  // nil: uniform
    var valueSize = 3
    var mix: [(Operation, Int)] = [(.set, 1), (.get, 1)]
    var verify = false
    var csv = false
    var json = false
    var quiet = false
    var label = ""
    /// Run against an in-process keyspace instead of a server (StoreBench.swift).
    var inProcess = false
    var shards = 64

    static let usage = """
        Usage: shoal-bench [options]
          --host H --port P [--password PW]   server to drive (any Redis-protocol server)
          -c, --connections N    connections (default 50)
          --threads N            client threads, each owning a share of the connections (default 2)
          -P, --pipeline N       requests in flight per connection (default 1)
          -n, --requests N       total requests (default 100000), or
          --duration SECONDS     run for a time instead
          --warmup SECONDS       run this long first without measuring
          -r, --keyspace N       distinct keys (default 100000)
          --distribution D       uniform (default) or zipf:S, e.g. zipf:0.99
          -d, --value-size N     bytes per value (default 3)
          --mix M                command weights, e.g. set=1,get=9 or incr=1 or mset=1 or tx=1 (MULTI, 2 SETs, EXEC) (default set=1,get=1)
          --verify               check every GET returns what was SET for that key (catches wrong servers)
          --csv | --json         machine-readable report
          --label TEXT           name for this run in the report
          -q, --quiet            no progress line
          --in-process           no server: the same keys and GET/SET mix straight against a keyspace in this
                                 process, on --threads threads for --duration seconds (default 3)
          --shards N             shards of that keyspace (default 64, as shoal-server's)
        """

    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        var options = Options()
        var index = 0
        func value() throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else { throw UsageError("\(arguments[index - 1]) needs a value") }
            return arguments[index]
        }
        func number(_ text: String) throws(UsageError) -> Int {
            guard let value = Int(text), value >= 0 else { throw UsageError("not a number: \(text)") }
            return value
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--host", "-h": options.host = try value()
            case "--port", "-p": options.port = try number(try value())
            case "--password", "-a": options.password = try value()
            case "--connections", "-c": options.connections = max(1, try number(try value()))
            case "--threads": options.threads = max(1, try number(try value()))
            case "--pipeline", "-P": options.pipeline = max(1, try number(try value()))
            case "--requests", "-n":
                options.requests = try number(try value())
                options.duration = nil
            case "--duration":
                guard let seconds = Double(try value()), seconds > 0 else { throw UsageError("bad --duration") }
                options.duration = seconds
                options.requests = nil
            case "--warmup":
                guard let seconds = Double(try value()), seconds >= 0 else { throw UsageError("bad --warmup") }
                options.warmup = seconds
            case "--keyspace", "-r": options.keyspace = max(1, try number(try value()))
            case "--distribution":
                let text = try value()
                if text == "uniform" {
                    options.zipf = nil
                } else if text.hasPrefix("zipf:"), let s = Double(text.dropFirst(5)), s > 0 {
                    options.zipf = s
                } else {
                    throw UsageError("--distribution is uniform or zipf:S")
                }
            case "--value-size", "-d": options.valueSize = max(1, try number(try value()))
            case "--mix":
                var mix: [(Operation, Int)] = []
                for part in try value().split(separator: ",") {
                    let pair = part.split(separator: "=")
                    guard let operation = Operation(rawValue: String(pair[0]).lowercased()) else {
                        throw UsageError("unknown command in --mix: \(pair[0]) (set, get, incr, mset, tx)")
                    }
                    mix.append((operation, pair.count > 1 ? try number(String(pair[1])) : 1))
                }
                guard mix.contains(where: { $0.1 > 0 }) else { throw UsageError("--mix has no weight") }
                options.mix = mix
            case "--verify": options.verify = true
            case "--csv": options.csv = true
            case "--json": options.json = true
            case "--quiet", "-q": options.quiet = true
            case "--label": options.label = try value()
            case "--in-process": options.inProcess = true
            case "--shards": options.shards = max(1, try number(try value()))
            case "--help": throw UsageError("")
            default: throw UsageError("unknown option \(arguments[index])")
            }
            index += 1
        }
        if options.inProcess {
            guard options.mix.allSatisfy({ $0.0 == .set || $0.0 == .get || $0.1 == 0 }) else {
                throw UsageError("--in-process runs set and get only")
            }
        } else {
            options.threads = min(options.threads, options.connections)
        }
        return options
    }
}

struct UsageError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// The commands shoal-bench can send, as redis-benchmark names its tests.
enum Operation: String, CaseIterable {
    case set, get, incr, mset
    /// MULTI, SET of two keys, EXEC: four replies for two writes, atomic across shards.
    case tx
}
