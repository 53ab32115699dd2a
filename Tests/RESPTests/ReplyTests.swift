import Testing

@testable import RESP

@Suite struct ReplyTests {
    func text(_ build: (inout ReplyBuffer) -> Void, resp3: Bool = false) -> String {
        var buffer = ReplyBuffer(protocolVersion: resp3 ? 3 : 2)
        build(&buffer)
        return String(decoding: buffer.bytes, as: UTF8.self)
    }

    @Test func nilIsMinusOneInResp2AndUnderscoreInResp3() {
        #expect(text { $0.null() } == "$-1\r\n")
        #expect(text({ $0.null() }, resp3: true) == "_\r\n")
        #expect(text { $0.nullArray() } == "*-1\r\n")
        #expect(text { $0.bulk([UInt8]()) } == "$0\r\n\r\n")
    }

    @Test func scalarsAndAggregates() {
        #expect(text { $0.integer(-42) } == ":-42\r\n")
        #expect(text { $0.integer(Int64.min) } == ":-9223372036854775808\r\n")
        #expect(text { $0.ok() } == "+OK\r\n")
        #expect(text { $0.error("ERR bad\r\nthing") } == "-ERR bad  thing\r\n")
        #expect(text { $0.mapHeader(2) } == "*4\r\n")
        #expect(text({ $0.mapHeader(2) }, resp3: true) == "%2\r\n")
        #expect(text { $0.double(1.5) } == "$3\r\n1.5\r\n")
        #expect(text({ $0.double(1.5) }, resp3: true) == ",1.5\r\n")
        #expect(text { $0.boolean(true) } == ":1\r\n")
        #expect(text({ $0.boolean(true) }, resp3: true) == "#t\r\n")
        #expect(text({ $0.verbatim("hi") }, resp3: true) == "=6\r\ntxt:hi\r\n")
    }

    @Test func writerAndReaderAgree() throws {
        var buffer = ReplyBuffer(protocolVersion: 3)
        buffer.arrayHeader(3)
        buffer.bulk("a")
        buffer.integer(7)
        buffer.mapHeader(1)
        buffer.bulk("k")
        buffer.null()
        let parsed = try buffer.bytes.withUnsafeBytes { try parseReply($0) }
        #expect(parsed?.0 == .array([.bulk(Array("a".utf8)), .integer(7), .map([(.bulk(Array("k".utf8)), .null)])]))
        #expect(parsed?.1 == buffer.bytes.count)
        // Every proper prefix is incomplete, never an error.
        for end in 0..<buffer.bytes.count {
            #expect(try Array(buffer.bytes[..<end]).withUnsafeBytes { try parseReply($0) } == nil)
        }
    }

    @Test(arguments: [
        ("0", 0 as Int64?), ("-1", -1), ("9223372036854775807", Int64.max), ("-9223372036854775808", Int64.min),
        ("9223372036854775808", nil), ("01", nil), ("-0", nil), ("+1", nil), (" 1", nil), ("", nil), ("1a", nil),
        ("-", nil),
    ])
    func integersFollowString2ll(text: String, expected: Int64?) {
        #expect(parseInt64(Array(text.utf8)) == expected)
        if let expected {
            var bytes: [UInt8] = []
            bytes.appendDecimal(expected)
            #expect(String(decoding: bytes, as: UTF8.self) == text)
        }
    }
}
