#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where one argument lies: an offset and a length in the bytes the parser reported it against.
public struct ArgSpan: Equatable, Sendable {
    public var offset: Int
    public var count: Int

    @inlinable
    public init(offset: Int, count: Int) {
        self.offset = offset
        self.count = count
    }
}

/// Incremental parser for client requests: RESP multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline
/// (`GET k\r\n`, or `\n` alone) as typed into netcat or telnet.
///
/// The contract (RediStack's): `parse` returns nil while it needs more bytes, throws when the bytes are
/// malformed, and reports bytes as consumed only when a whole command is complete. Unlike a stateless parser it
/// remembers how far into a multibulk it got (as Redis's `multibulklen`/`bulklen` do), so a request that arrives
/// in many small reads is scanned once, not once per read. The caller must therefore keep the unconsumed bytes
/// in place (or move them as a block) between calls.
///
/// Arguments are not copied: after a multibulk command, `spans` locate each argument inside the buffer passed
/// to `parse`; after an inline command they locate it in `inlineStorage`, which holds the unescaped bytes.
public struct RequestParser: Sendable {
    public var limits: RequestLimits
    /// Argument locations of the last complete command.
    public private(set) var spans: [ArgSpan] = []
    /// True when `spans` refer to `inlineStorage` rather than to the parsed buffer.
    public private(set) var isInline = false
    public private(set) var inlineStorage: [UInt8] = []
    /// Bytes needed from the start of the current command before parsing can make progress; callers use it to
    /// avoid calling `parse` again before a large bulk has fully arrived.
    public private(set) var bytesNeeded = 0

    // Resume state for a multibulk in progress; offsets are relative to the start of the command.
    private var argumentsLeft = 0
    private var position = 0
    private var pendingBulkLength = -1

    public init(limits: RequestLimits = RequestLimits()) {
        self.limits = limits
        spans.reserveCapacity(8)
    }

    /// True while a multibulk request has been started but not finished.
    public var isInsideCommand: Bool { argumentsLeft > 0 }

    /// Parses one command from the start of `buffer`.
    /// - Parameter authenticated: false applies Redis's tighter limits for clients that have not yet AUTHed.
    /// - Returns: the number of bytes the command took (an empty command, `*0` or a blank line, yields
    ///   empty `spans`), or nil when the command is not complete yet.
    public mutating func parse(
        _ buffer: UnsafeRawBufferPointer,
        authenticated: Bool = true
    ) throws(ProtocolError) -> Int? {
        if argumentsLeft == 0 {
            guard buffer.count > 0 else { return nil }
            if buffer[0] != UInt8(ascii: "*") {
                return try parseInline(buffer)
            }
            let count: Int64
            if let (lineEnd, value) = canonicalLength(buffer, from: 1), lineEnd + 1 < buffer.count {
                count = value
                position = lineEnd + 2
            } else {
                guard let lineEnd = findCR(buffer, from: 1) else {
                    if buffer.count > limits.maxInlineLength { throw .tooBigMultibulkCount }
                    bytesNeeded = buffer.count + 1
                    return nil
                }
                guard lineEnd + 1 < buffer.count else {
                    bytesNeeded = lineEnd + 2
                    return nil
                }
                guard let parsed = parseInt64(UnsafeRawBufferPointer(rebasing: buffer[1..<lineEnd])) else {
                    throw .invalidMultibulkLength
                }
                count = parsed
                position = lineEnd + 2
            }
            guard count <= Int64(Int32.max) else { throw .invalidMultibulkLength }
            if !authenticated && count > Int64(limits.maxUnauthenticatedArguments) {
                throw .unauthenticatedMultibulkLength
            }
            isInline = false
            spans.removeAll(keepingCapacity: true)
            if count <= 0 {
                bytesNeeded = 0
                let consumed = position
                position = 0
                return consumed
            }
            // Never trust a client's count for an allocation: grow as arguments actually arrive.
            spans.reserveCapacity(min(Int(count), 1024))
            argumentsLeft = Int(count)
            pendingBulkLength = -1
        }
        while argumentsLeft > 0 {
            if pendingBulkLength < 0, position < buffer.count, buffer[position] == UInt8(ascii: "$"),
                let (lineEnd, length) = canonicalLength(buffer, from: position + 1), lineEnd + 1 < buffer.count,
                length <= Int64(limits.maxBulkLength),
                authenticated || length <= Int64(limits.maxUnauthenticatedBulkLength)
            {
                // The common case, `$<digits>\r\n`, in one pass; anything else takes the checks below.
                pendingBulkLength = Int(length)
                position = lineEnd + 2
            }
            if pendingBulkLength < 0 {
                guard position < buffer.count else {
                    bytesNeeded = position + 1
                    return nil
                }
                guard let lineEnd = findCR(buffer, from: position) else {
                    if buffer.count - position > limits.maxInlineLength { throw .tooBigBulkCount }
                    bytesNeeded = buffer.count + 1
                    return nil
                }
                guard lineEnd + 1 < buffer.count else {
                    bytesNeeded = lineEnd + 2
                    return nil
                }
                let marker = buffer[position]
                guard marker == UInt8(ascii: "$") else {
                    resetCommandState()
                    throw ProtocolError("expected '$', got '\(Character(Unicode.Scalar(marker)))'")
                }
                guard let length = parseInt64(UnsafeRawBufferPointer(rebasing: buffer[(position + 1)..<lineEnd])),
                    length >= 0, length <= Int64(limits.maxBulkLength)
                else {
                    resetCommandState()
                    throw .invalidBulkLength
                }
                if !authenticated && length > Int64(limits.maxUnauthenticatedBulkLength) {
                    resetCommandState()
                    throw .unauthenticatedBulkLength
                }
                pendingBulkLength = Int(length)
                position = lineEnd + 2
            }
            // Like Redis, the two bytes after the payload are skipped, not checked.
            let end = position + pendingBulkLength + 2
            guard end <= buffer.count else {
                bytesNeeded = end
                return nil
            }
            spans.append(ArgSpan(offset: position, count: pendingBulkLength))
            position = end
            pendingBulkLength = -1
            argumentsLeft -= 1
        }
        let consumed = position
        resetCommandState()
        return consumed
    }

    /// Forgets a half-parsed command (after an error, or when the connection is reset).
    public mutating func resetCommandState() {
        argumentsLeft = 0
        position = 0
        pendingBulkLength = -1
        bytesNeeded = 0
    }

    private mutating func parseInline(_ buffer: UnsafeRawBufferPointer) throws(ProtocolError) -> Int? {
        guard let newline = findByte(buffer, UInt8(ascii: "\n"), from: 0) else {
            if buffer.count > limits.maxInlineLength { throw .tooBigInline }
            bytesNeeded = buffer.count + 1
            return nil
        }
        var lineEnd = newline
        if lineEnd > 0, buffer[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
        if lineEnd > limits.maxInlineLength { throw .tooBigInline }
        isInline = true
        spans.removeAll(keepingCapacity: true)
        inlineStorage.removeAll(keepingCapacity: true)
        guard
            splitInlineArguments(
                UnsafeRawBufferPointer(rebasing: buffer[0..<lineEnd]), storage: &inlineStorage, spans: &spans)
        else { throw .unbalancedQuotes }
        bytesNeeded = 0
        return newline + 1
    }
}

@inline(__always)
private func findCR(_ buffer: UnsafeRawBufferPointer, from start: Int) -> Int? {
    findByte(buffer, UInt8(ascii: "\r"), from: start)
}

/// A protocol length written the canonical way, scanned in one pass: one to eighteen digits without a leading
/// zero (or a lone `0`), then `\r`. Returns where the `\r` is and the value; nil for anything else (a sign,
/// garbage, a line not complete yet), which the caller then handles with `findCR` and `parseInt64` exactly as
/// before. Saves a memchr call and a second pass per length: three per GET.
@inline(__always)
private func canonicalLength(_ buffer: UnsafeRawBufferPointer, from start: Int) -> (lineEnd: Int, value: Int64)? {
    var index = start
    var value: Int64 = 0
    let limit = min(buffer.count, start + 18)
    while index < limit {
        let digit = buffer[index] &- UInt8(ascii: "0")
        guard digit <= 9 else { break }
        value = value &* 10 &+ Int64(digit)
        index += 1
    }
    let digits = index - start
    guard digits > 0, index < buffer.count, buffer[index] == UInt8(ascii: "\r") else { return nil }
    if digits > 1 && buffer[start] == UInt8(ascii: "0") { return nil }
    return (index, value)
}

@inline(__always)
func findByte(_ buffer: UnsafeRawBufferPointer, _ byte: UInt8, from start: Int) -> Int? {
    guard start < buffer.count, let base = buffer.baseAddress else { return nil }
    guard let found = memchr(base + start, Int32(byte), buffer.count - start) else { return nil }
    return UnsafeRawPointer(found) - base
}
