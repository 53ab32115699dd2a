/// A reply as a client sees it. Used by the tests and the load generator; the server writes replies with
/// `ReplyBuffer` and never builds these.
public indirect enum RESPValue: Equatable, Sendable, CustomStringConvertible {
    case simple(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case array([RESPValue])
    case null
    case double(Double)
    case boolean(Bool)
    case map([(RESPValue, RESPValue)])
    case set([RESPValue])
    case verbatim(String)
    case bigNumber(String)
    case push([RESPValue])

    public static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        switch (lhs, rhs) {
        case (.simple(let a), .simple(let b)), (.error(let a), .error(let b)), (.verbatim(let a), .verbatim(let b)),
            (.bigNumber(let a), .bigNumber(let b)):
            return a == b
        case (.integer(let a), .integer(let b)): return a == b
        case (.bulk(let a), .bulk(let b)): return a == b
        case (.array(let a), .array(let b)), (.set(let a), .set(let b)), (.push(let a), .push(let b)): return a == b
        case (.null, .null): return true
        case (.double(let a), .double(let b)): return a == b || (a.isNaN && b.isNaN)
        case (.boolean(let a), .boolean(let b)): return a == b
        case (.map(let a), .map(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The payload as text, for bulk, simple, verbatim and error replies.
    public var string: String? {
        switch self {
        case .simple(let text), .error(let text), .verbatim(let text), .bigNumber(let text): return text
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .simple(let text): return "+\(text)"
        case .error(let text): return "-\(text)"
        case .integer(let value): return ":\(value)"
        case .bulk(let bytes): return "\"\(String(decoding: bytes, as: UTF8.self))\""
        case .array(let items): return "[\(items.map(\.description).joined(separator: ", "))]"
        case .null: return "(nil)"
        case .double(let value): return ",\(value)"
        case .boolean(let value): return value ? "#t" : "#f"
        case .map(let pairs): return "{\(pairs.map { "\($0.0): \($0.1)" }.joined(separator: ", "))}"
        case .set(let items): return "~[\(items.map(\.description).joined(separator: ", "))]"
        case .verbatim(let text): return "=\(text)"
        case .bigNumber(let text): return "(\(text))"
        case .push(let items): return ">[\(items.map(\.description).joined(separator: ", "))]"
        }
    }
}

/// Parses one reply (RESP2 or RESP3) from the start of `buffer`. Returns the value and the bytes it took, nil
/// when more bytes are needed, and throws on malformed input.
public func parseReply(_ buffer: UnsafeRawBufferPointer) throws(ProtocolError) -> (RESPValue, Int)? {
    var position = 0
    guard let value = try parseReplyValue(buffer, &position, depth: 0) else { return nil }
    return (value, position)
}

private func parseReplyValue(
    _ buffer: UnsafeRawBufferPointer, _ position: inout Int, depth: Int
) throws(ProtocolError) -> RESPValue? {
    guard depth < 64 else { throw ProtocolError("reply nested too deeply") }
    guard position < buffer.count else { return nil }
    let marker = buffer[position]
    guard let lineEnd = findByte(buffer, 0x0D, from: position + 1), lineEnd + 1 < buffer.count else { return nil }
    let line = UnsafeRawBufferPointer(rebasing: buffer[(position + 1)..<lineEnd])
    let text = { String(decoding: line, as: UTF8.self) }
    let afterLine = lineEnd + 2
    func aggregate(_ count: Int64, _ position: inout Int) throws(ProtocolError) -> [RESPValue]? {
        var items: [RESPValue] = []
        items.reserveCapacity(Int(min(count, 1024)))
        for _ in 0..<count {
            guard let item = try parseReplyValue(buffer, &position, depth: depth + 1) else { return nil }
            items.append(item)
        }
        return items
    }
    switch marker {
    case UInt8(ascii: "+"):
        position = afterLine
        return .simple(text())
    case UInt8(ascii: "-"):
        position = afterLine
        return .error(text())
    case UInt8(ascii: ":"):
        guard let value = parseInt64(line) else { throw ProtocolError("bad integer") }
        position = afterLine
        return .integer(value)
    case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
        guard let length = parseInt64(line) else { throw ProtocolError("bad bulk length") }
        if length < 0 {
            position = afterLine
            return .null
        }
        let end = afterLine + Int(length)
        guard end + 2 <= buffer.count else { return nil }
        let payload = Array(UnsafeRawBufferPointer(rebasing: buffer[afterLine..<end]))
        position = end + 2
        if marker == UInt8(ascii: "=") { return .verbatim(String(decoding: payload.dropFirst(4), as: UTF8.self)) }
        if marker == UInt8(ascii: "!") { return .error(String(decoding: payload, as: UTF8.self)) }
        return .bulk(payload)
    case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
        guard let count = parseInt64(line) else { throw ProtocolError("bad aggregate length") }
        if count < 0 {
            position = afterLine
            return .null
        }
        var cursor = afterLine
        guard let items = try aggregate(count, &cursor) else { return nil }
        position = cursor
        switch marker {
        case UInt8(ascii: "~"): return .set(items)
        case UInt8(ascii: ">"): return .push(items)
        default: return .array(items)
        }
    case UInt8(ascii: "%"), UInt8(ascii: "|"):
        guard let count = parseInt64(line), count >= 0 else { throw ProtocolError("bad map length") }
        var cursor = afterLine
        guard let items = try aggregate(count * 2, &cursor) else { return nil }
        position = cursor
        var pairs: [(RESPValue, RESPValue)] = []
        var index = 0
        while index < items.count {
            pairs.append((items[index], items[index + 1]))
            index += 2
        }
        if marker == UInt8(ascii: "|") {
            // An attribute precedes the real reply; skip it.
            return try parseReplyValue(buffer, &position, depth: depth + 1)
        }
        return .map(pairs)
    case UInt8(ascii: "_"):
        position = afterLine
        return .null
    case UInt8(ascii: ","):
        let string = text()
        let value: Double? =
            switch string {
            case "inf": .infinity
            case "-inf": -.infinity
            case "nan": .nan
            default: Double(string)
            }
        guard let value else { throw ProtocolError("bad double") }
        position = afterLine
        return .double(value)
    case UInt8(ascii: "#"):
        position = afterLine
        return .boolean(line.first == UInt8(ascii: "t"))
    case UInt8(ascii: "("):
        position = afterLine
        return .bigNumber(text())
    default:
        throw ProtocolError("unexpected reply type '\(Character(Unicode.Scalar(marker)))'")
    }
}

extension Array where Element == UInt8 {
    /// Encodes `arguments` as a RESP multibulk request, the way every client sends commands.
    public mutating func appendCommand(_ arguments: [[UInt8]]) {
        append(UInt8(ascii: "*"))
        appendDecimal(Int64(arguments.count))
        append(contentsOf: [0x0D, 0x0A])
        for argument in arguments {
            append(UInt8(ascii: "$"))
            appendDecimal(Int64(argument.count))
            append(contentsOf: [0x0D, 0x0A])
            append(contentsOf: argument)
            append(contentsOf: [0x0D, 0x0A])
        }
    }

    public mutating func appendCommand(_ arguments: [String]) {
        appendCommand(arguments.map { Array($0.utf8) })
    }
}
