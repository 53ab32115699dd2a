import Logging
import RESP
import ShoalStore
import Testing

@testable import ShoalServer

/// "No crash on any input": random commands from the real vocabulary with hostile arguments (huge, negative,
/// non-numeric, binary, empty, option words in the wrong places) run against a detached session. Every one
/// must produce exactly one well-formed reply. A deterministic seed makes a failure replayable; the fuzz target
/// (issue 7) explores further.
@Suite struct RandomCommandTests {
    // sleep, stop, write files, or (MONITOR) turn the session into a feed that answers a second MONITOR with nothing
    static let skipped: Set<String> = ["debug", "shutdown", "save", "bgsave", "monitor"]
    static let subscriptionCommands: Set<String> = [
        "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe", "exec",
    ]

    func randomArgument(_ generator: inout SamplingRandom, keys: [String]) -> [UInt8] {
        let words = [
            "EX", "PX", "EXAT", "PXAT", "NX", "XX", "GT", "LT", "GET", "KEEPTTL", "PERSIST", "MATCH", "COUNT",
            "TYPE", "REPLACE", "DB", "ID", "ADDR", "SKIPME", "yes", "no", "SCHEDULE", "SAMPLES", "*", "?", "[a-",
            "0", "1", "-1", "10", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
            "1e308", "inf", "-inf", "nan", "3.14", "", " ", "\r\n", "$", "*-1", "LIB-NAME", "default",
        ]
        switch Int.random(in: 0..<5, using: &generator) {
        case 0, 1: return Array(keys.randomElement(using: &generator)!.utf8)
        case 2: return Array(words.randomElement(using: &generator)!.utf8)
        case 3:
            return (0..<Int.random(in: 0...40, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
        default: return Array(String(Int64.random(in: -1_000_000...1_000_000, using: &generator)).utf8)
        }
    }

    /// `inTransaction`: each command is also run queued in MULTI/EXEC, so every handler runs against the
    /// pre-locked store of a transaction's planned shards (a shard the plan missed would stop the test).
    @Test(arguments: [(2, false), (3, false), (2, true), (3, true)])
    func randomCommandsAlwaysGetExactlyOneWellFormedReply(protocolVersion: Int, inTransaction: Bool) throws {
        var config = ServerConfig()
        config.save = []
        config.databases = 4
        config.shards = 4
        config.dir = "/nonexistent"
        var logger = Logger(label: "random")
        logger.logLevel = .critical
        let state = ServerState(config: config, logger: logger, memoryBaseline: 0)
        let session = state.makeDetachedSession()
        session.protocolVersion = protocolVersion
        let names = CommandTable.standard.commands.map(\.name).filter { !Self.skipped.contains($0) }
        let keys = ["a", "b", "counter", "k:1", "k:2", "{tag}", ""]
        var generator = SamplingRandom(seed: UInt64(protocolVersion) * 7919 + (inTransaction ? 1 : 0))
        for step in 0..<(inTransaction ? 15_000 : 30_000) {
            var argv: [[UInt8]] = [Array(names.randomElement(using: &generator)!.utf8)]
            if let command = CommandTable.standard.command(named: String(decoding: argv[0], as: UTF8.self)),
                !command.subcommands.isEmpty, Bool.random(using: &generator)
            {
                argv.append(Array(command.subcommands.randomElement(using: &generator)!.name.utf8))
            }
            for _ in 0..<Int.random(in: 0...6, using: &generator) {
                argv.append(randomArgument(&generator, keys: keys))
            }
            if argv.count >= 2, argv[0] == Array("config".utf8), argv[1] == Array("set".utf8) { continue }
            if inTransaction && session.transaction == nil {
                _ = state.run([Array("MULTI".utf8)], session: session)
                _ = state.run(argv, session: session)
                argv = [Array("EXEC".utf8)]
            }
            let reply = state.run(argv, session: session)
            // CLIENT REPLY OFF/SKIP silence the client on purpose (and the command after SKIP): not a lost reply.
            if session.replyMode != .on || (reply.isEmpty && argv.count >= 2
                && String(decoding: argv[0], as: UTF8.self).lowercased() == "client"
                && String(decoding: argv[1], as: UTF8.self).lowercased() == "reply")
            {
                session.replyMode = .on
                continue
            }
            let description = argv.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            // (P|S)(UN)SUBSCRIBE answer once per channel, as Redis: a run of well-formed replies.
            let confirmations = Self.subscriptionCommands.contains(String(decoding: argv[0], as: UTF8.self).lowercased())
            var offset = 0
            repeat {
                let parsed = try reply[offset...].withUnsafeBytes { try parseReply($0) }
                #expect(parsed != nil, "step \(step): \(description) gave an incomplete reply")
                guard let parsed else { break }
                offset += parsed.1
            } while confirmations && offset < reply.count
            #expect(offset == reply.count, "step \(step): \(description) gave more than one reply")
            if session.closeAfterReply { session.closeAfterReply = false }
            session.protocolVersion = protocolVersion  // HELLO may have switched it
            if session.database >= 4 { session.database = 0 }
        }
    }
}
