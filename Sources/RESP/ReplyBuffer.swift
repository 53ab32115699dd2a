#if canImport(Glibc)
    import Glibc
#endif

/// Accumulates replies for one connection. Every reply shape that differs between RESP2 and RESP3 is decided
/// here, in one place, from `protocolVersion`; handlers never write protocol bytes themselves.
public struct ReplyBuffer: Sendable {
    public var bytes: [UInt8]
    /// 2 or 3 (after `HELLO 3`).
    public var protocolVersion: Int

    public init(protocolVersion: Int = 2, capacity: Int = 16 * 1024) {
        self.protocolVersion = protocolVersion
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable public var isResp3: Bool { protocolVersion >= 3 }
    @inlinable public var count: Int { bytes.count }

    // MARK: - Scalars

    @inlinable
    public mutating func ok() { appendStatic("+OK\r\n") }

    /// `+text`; the text must not contain CR or LF.
    @inlinable
    public mutating func simple(_ text: String) {
        bytes.append(UInt8(ascii: "+"))
        bytes.append(contentsOf: text.utf8)
        crlf()
    }

    /// `-CODE message`: `text` is the full line, e.g. `ERR syntax error`. CR and LF are replaced by spaces so
    /// the error always stays one line, as Redis's `addReplyErrorLength` does.
    public mutating func error(_ text: String) {
        bytes.append(UInt8(ascii: "-"))
        for byte in text.utf8 { bytes.append(byte == 0x0D || byte == 0x0A ? 0x20 : byte) }
        crlf()
    }

    @inlinable
    public mutating func integer(_ value: Int64) {
        bytes.append(UInt8(ascii: ":"))
        bytes.appendDecimal(value)
        crlf()
    }

    @inlinable
    public mutating func integer(_ value: Int) { integer(Int64(value)) }

    @inlinable
    public mutating func bulk(_ payload: UnsafeRawBufferPointer) {
        header(UInt8(ascii: "$"), payload.count)
        bytes.append(contentsOf: payload)
        crlf()
    }

    @inlinable
    public mutating func bulk(_ payload: [UInt8]) {
        header(UInt8(ascii: "$"), payload.count)
        bytes.append(contentsOf: payload)
        crlf()
    }

    @inlinable
    public mutating func bulk(_ payload: ArraySlice<UInt8>) {
        header(UInt8(ascii: "$"), payload.count)
        bytes.append(contentsOf: payload)
        crlf()
    }

    public mutating func bulk(_ text: String) {
        var text = text
        text.withUTF8 { bulk(UnsafeRawBufferPointer($0)) }
    }

    /// Nil: `$-1` in RESP2 (never `$0`), `_` in RESP3.
    @inlinable
    public mutating func null() {
        if isResp3 { appendStatic("_\r\n") } else { appendStatic("$-1\r\n") }
    }

    /// Nil where an array was expected: `*-1` in RESP2, `_` in RESP3.
    @inlinable
    public mutating func nullArray() {
        if isResp3 { appendStatic("_\r\n") } else { appendStatic("*-1\r\n") }
    }

    /// A double: `,1.5` in RESP3, a bulk string in RESP2, formatted as Redis's `%.17g`.
    public mutating func double(_ value: Double) {
        // Integral values below 1e17 are what %.17g prints as plain digits: no formatter needed (the common case
        // for scores: ZRANGE WITHSCORES spent most of its time in vsnprintf before this).
        if value == value.rounded(.towardZero), abs(value) < 1e17, !(value == 0 && value.sign == .minus) {
            let integer = Int64(value)
            if isResp3 {
                bytes.append(UInt8(ascii: ","))
                bytes.appendDecimal(integer)
                crlf()
            } else {
                withDecimalBytes(integer) { bulk($0) }
            }
            return
        }
        let text = formatDouble(value)
        if isResp3 {
            bytes.append(UInt8(ascii: ","))
            bytes.append(contentsOf: text.utf8)
            crlf()
        } else {
            bulk(text)
        }
    }

    /// `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    public mutating func boolean(_ value: Bool) {
        if isResp3 { appendStatic(value ? "#t\r\n" : "#f\r\n") } else { integer(value ? 1 : 0) }
    }

    /// Verbatim text (`INFO`, `CLIENT LIST`): `=N\r\ntxt:...` in RESP3, a bulk string in RESP2. `format` is
    /// the three-letter kind (`txt`, `mkd`).
    public mutating func verbatim(_ text: String, format: String = "txt") {
        if isResp3 {
            var text = text
            text.withUTF8 { utf8 in
                header(UInt8(ascii: "="), utf8.count + 4)
                bytes.append(contentsOf: format.utf8)
                bytes.append(UInt8(ascii: ":"))
                bytes.append(contentsOf: UnsafeRawBufferPointer(utf8))
                crlf()
            }
        } else {
            bulk(text)
        }
    }

    /// A big number: `(digits` in RESP3, a bulk string in RESP2.
    public mutating func bigNumber(_ digits: String) {
        if isResp3 {
            bytes.append(UInt8(ascii: "("))
            bytes.append(contentsOf: digits.utf8)
            crlf()
        } else {
            bulk(digits)
        }
    }

    // MARK: - Aggregates

    @inlinable
    public mutating func arrayHeader(_ count: Int) { header(UInt8(ascii: "*"), count) }

    /// A map of `count` pairs: `%count` in RESP3, a flat array of `2 * count` in RESP2.
    @inlinable
    public mutating func mapHeader(_ count: Int) {
        if isResp3 { header(UInt8(ascii: "%"), count) } else { header(UInt8(ascii: "*"), count * 2) }
    }

    /// An out-of-band message (pub/sub, invalidation): `>count` in RESP3, an array in RESP2.
    @inlinable
    public mutating func pushHeader(_ count: Int) {
        header(isResp3 ? UInt8(ascii: ">") : UInt8(ascii: "*"), count)
    }

    /// A set: `~count` in RESP3, an array in RESP2.
    @inlinable
    public mutating func setHeader(_ count: Int) {
        if isResp3 { header(UInt8(ascii: "~"), count) } else { header(UInt8(ascii: "*"), count) }
    }

    /// An array of simple strings (HELP replies, as Redis's addReplyHelp).
    public mutating func statusArray(_ lines: [String]) {
        arrayHeader(lines.count)
        for line in lines { simple(line) }
    }

    public mutating func bulkArray(_ items: [[UInt8]]) {
        arrayHeader(items.count)
        for item in items { bulk(item) }
    }

    public mutating func bulkArray(_ items: [String]) {
        arrayHeader(items.count)
        for item in items { bulk(item) }
    }

    // MARK: - Buffer management

    /// Drops the first `count` bytes (after they were written to the socket).
    public mutating func discardFront(_ count: Int) {
        if count >= bytes.count {
            bytes.removeAll(keepingCapacity: true)
        } else {
            bytes.removeFirst(count)
        }
    }

    /// Discards everything after `mark` (used to replace a partial reply with an error).
    public mutating func truncate(to mark: Int) {
        bytes.removeSubrange(mark...)
    }

    // MARK: - Helpers

    @inlinable
    mutating func header(_ marker: UInt8, _ count: Int) {
        bytes.append(marker)
        bytes.appendDecimal(Int64(count))
        crlf()
    }

    @inlinable
    mutating func crlf() {
        bytes.append(0x0D)
        bytes.append(0x0A)
    }

    @inlinable
    mutating func appendStatic(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}

/// Formats a double as Redis 7.0 does in replies (addReplyDouble): `inf`/`-inf`, else C's `%.17g`, so 0.1 is
/// `0.10000000000000001` and 3 is `3`, byte for byte what redis-server sends.
public func formatDouble(_ value: Double) -> String {
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    if value.isNaN { return "nan" }
    var buffer = [CChar](repeating: 0, count: 64)
    let length = withVaList([value]) { vsnprintf(&buffer, buffer.count, "%.17g", $0) }
    return String(decoding: buffer[..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
