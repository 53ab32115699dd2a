import Testing

@testable import RESP

/// Parses every command in `bytes`, feeding them in chunks at the given split points, the way a socket
/// delivers them. Returns the argv of each command.
func parseAll(_ bytes: [UInt8], splits: [Int] = [], limits: RequestLimits = RequestLimits()) throws -> [[[UInt8]]] {
    var parser = RequestParser(limits: limits)
    var buffer: [UInt8] = []
    var commands: [[[UInt8]]] = []
    var fed = 0
    for end in splits + [bytes.count] where end >= fed {
        buffer.append(contentsOf: bytes[fed..<end])
        fed = end
        while true {
            let consumed = try buffer.withUnsafeBytes { try parser.parse($0) }
            guard let consumed else { break }
            let storage = parser.isInline ? parser.inlineStorage : Array(buffer[..<consumed])
            if !parser.spans.isEmpty {
                commands.append(parser.spans.map { Array(storage[$0.offset..<($0.offset + $0.count)]) })
            }
            buffer.removeFirst(consumed)
        }
    }
    return commands
}

func encode(_ commands: [[String]]) -> [UInt8] {
    var bytes: [UInt8] = []
    for command in commands { bytes.appendCommand(command) }
    return bytes
}

func strings(_ commands: [[[UInt8]]]) -> [[String]] {
    commands.map { $0.map { String(decoding: $0, as: UTF8.self) } }
}

@Suite struct RequestParserTests {
    @Test func multibulkCommand() throws {
        let parsed = try parseAll(Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n".utf8))
        #expect(strings(parsed) == [["SET", "k", "hello"]])
    }

    @Test func pipelinedCommandsAtEverySplitPoint() throws {
        let commands = [["SET", "key", "value"], ["GET", "key"], ["PING"], ["MSET", "a", "", "b", "binary\r\n\0"]]
        let bytes = encode(commands) + Array("PING\r\nECHO \"x y\"\n".utf8)
        let expected = commands + [["PING"], ["ECHO", "x y"]]
        for split in 0...bytes.count {
            #expect(strings(try parseAll(bytes, splits: [split])) == expected, "split at \(split)")
        }
        // Byte at a time: the worst a socket can do.
        #expect(strings(try parseAll(bytes, splits: Array(0...bytes.count))) == expected)
    }

    @Test func incompleteInputConsumesNothing() throws {
        var parser = RequestParser()
        let bytes = Array("*2\r\n$3\r\nGET\r\n$3\r\nke".utf8)
        let result = try bytes.withUnsafeBytes { try parser.parse($0) }
        #expect(result == nil)
        #expect(parser.bytesNeeded == bytes.count + 3)
    }

    @Test func emptyCommandsAreSkipped() throws {
        #expect(try parseAll(Array("*0\r\n*-1\r\n\r\n\n   \r\nPING\r\n".utf8)).count == 1)
    }

    @Test(arguments: [
        ("*abc\r\n", "invalid multibulk length"),
        ("*3000000000\r\n", "invalid multibulk length"),
        ("*1\r\nfoo\r\n", "expected '$', got 'f'"),
        ("*1\r\n$-5\r\n", "invalid bulk length"),
        ("*1\r\n$x\r\n", "invalid bulk length"),
        ("*1\r\n$600000000\r\n", "invalid bulk length"),
        // Lengths off the one-pass path (leading zeros, signs, 19+ digits) keep Redis's string2ll verdicts.
        ("*01\r\n$1\r\na\r\n", "invalid multibulk length"),
        ("*1\r\n$01\r\na\r\n", "invalid bulk length"),
        ("*1\r\n$+1\r\na\r\n", "invalid bulk length"),
        ("*1\r\n$-0\r\n", "invalid bulk length"),
        ("*1\r\n$1x\r\na\r\n", "invalid bulk length"),
        ("*99999999999999999999\r\n", "invalid multibulk length"),
        ("*1\r\n$1000000000000000000\r\n", "invalid bulk length"),
        ("*1\r\n$\r\n", "invalid bulk length"),
        ("*\r\n", "invalid multibulk length"),
        ("SET a \"b\r\n", "unbalanced quotes in request"),
        ("SET a 'b\r\n", "unbalanced quotes in request"),
        ("SET a \"b\"c\r\n", "unbalanced quotes in request"),
    ])
    func malformedInputThrowsRedisErrors(input: String, message: String) {
        #expect(throws: ProtocolError(message)) { try parseAll(Array(input.utf8)) }
    }

    @Test func oversizedHeaderAndInlineLinesAreRefused() {
        let limits = RequestLimits()
        let longInline = [UInt8](repeating: UInt8(ascii: "a"), count: limits.maxInlineLength + 10)
        #expect(throws: ProtocolError("too big inline request")) { try parseAll(longInline) }
        let longCount = Array("*".utf8) + [UInt8](repeating: UInt8(ascii: "1"), count: limits.maxInlineLength + 10)
        #expect(throws: ProtocolError("too big mbulk count string")) { try parseAll(longCount) }
        let longBulkCount =
            Array("*1\r\n$".utf8) + [UInt8](repeating: UInt8(ascii: "1"), count: limits.maxInlineLength + 10)
        #expect(throws: ProtocolError("too big bulk count string")) { try parseAll(longBulkCount) }
    }

    @Test func unauthenticatedLimits() {
        var parser = RequestParser()
        let many = encode([Array(repeating: "x", count: 11)])
        #expect(throws: ProtocolError("unauthenticated multibulk length")) {
            try many.withUnsafeBytes { try parser.parse($0, authenticated: false) }
        }
        parser.resetCommandState()
        let big = encode([["AUTH", String(repeating: "p", count: 20000)]])
        #expect(throws: ProtocolError("unauthenticated bulk length")) {
            try big.withUnsafeBytes { try parser.parse($0, authenticated: false) }
        }
    }

    @Test func lengthsSplitAnywhereParseTheSame() throws {
        // Every split point of a command whose lengths are canonical, zero and multi-digit: the one-pass length
        // scan must wait for the line's end like the general path.
        let bytes = Array("*3\r\n$3\r\nSET\r\n$0\r\n\r\n$12\r\nhello world!\r\n*1\r\n$4\r\nPING\r\n".utf8)
        for split in 1..<bytes.count {
            let commands = strings(try parseAll(bytes, splits: [split]))
            #expect(commands == [["SET", "", "hello world!"], ["PING"]], "split at \(split)")
        }
    }

    @Test func hugeCountDoesNotPreallocate() throws {
        // A client announcing 2^31-1 arguments and sending two must not make the server allocate for all.
        var parser = RequestParser()
        let bytes = Array("*2147483647\r\n$1\r\na\r\n$1\r\nb\r\n".utf8)
        #expect(try bytes.withUnsafeBytes { try parser.parse($0) } == nil)
        #expect(parser.spans.capacity <= 2048)
    }

    @Test(
        arguments: [
            ("set a b", ["set", "a", "b"]),
            ("  set   a    b  ", ["set", "a", "b"]),
            ("set \"hello world\" x", ["set", "hello world", "x"]),
            ("set 'it''s' x", nil),
            ("set 'it\\'s' x", ["set", "it's", "x"]),
            ("echo \"\\x41\\x4a\\n\\t\\\\\\\"\"", ["echo", "AJ\n\t\\\""]),
            ("echo \"\\xZZ\"", ["echo", "xZZ"]),
            ("echo \"\"", ["echo", ""]),
            ("echo ''", ["echo", ""]),
        ] as [(String, [String]?)])
    func inlineQuotingFollowsRedis(line: String, expected: [String]?) throws {
        if let expected {
            #expect(strings(try parseAll(Array((line + "\r\n").utf8))) == [expected])
            #expect(splitArguments(line) == expected)
        } else {
            #expect(splitArguments(line) == nil)
        }
    }

    @Test func randomisedPipelinesRoundTrip() throws {
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<200 {
            var commands: [[String]] = []
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                let argc = Int.random(in: 1...6, using: &generator)
                let inline = Bool.random(using: &generator)
                let argv: [String] = (0..<argc).map { _ in
                    let length = Int.random(in: 0...20, using: &generator)
                    let alphabet = inline ? Array("ab c\"'\\\tZ09") : Array("ab c\r\n\"'\\\0Z09")
                    return String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
                }
                if inline {
                    // Quote every argument the way redis-cli would, escaping quotes and backslashes.
                    let line = argv.map {
                        "\""
                            + $0.replacingOccurrences("\\", "\\\\").replacingOccurrences("\"", "\\\"")
                            .replacingOccurrences("\t", "\\t") + "\""
                    }.joined(separator: " ")
                    bytes += Array((line + (Bool.random(using: &generator) ? "\r\n" : "\n")).utf8)
                } else {
                    bytes.appendCommand(argv)
                }
                commands.append(argv)
            }
            let splits = (0..<3).map { _ in Int.random(in: 0...bytes.count, using: &generator) }.sorted()
            #expect(strings(try parseAll(bytes, splits: splits)) == commands)
        }
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// A deterministic generator so a failing randomised case can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
