/// A malformed request. The server replies `-ERR Protocol error: <message>` and closes that connection only.
public struct ProtocolError: Error, Equatable, CustomStringConvertible {
    /// The text after `Protocol error: `, exactly as Redis words it.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { "Protocol error: \(message)" }

    static let tooBigMultibulkCount = ProtocolError("too big mbulk count string")
    static let invalidMultibulkLength = ProtocolError("invalid multibulk length")
    static let unauthenticatedMultibulkLength = ProtocolError("unauthenticated multibulk length")
    static let tooBigBulkCount = ProtocolError("too big bulk count string")
    static let invalidBulkLength = ProtocolError("invalid bulk length")
    static let unauthenticatedBulkLength = ProtocolError("unauthenticated bulk length")
    static let tooBigInline = ProtocolError("too big inline request")
    static let unbalancedQuotes = ProtocolError("unbalanced quotes in request")
}

/// Redis's request limits (`networking.c`, `server.h`).
public struct RequestLimits: Sendable, Equatable {
    /// `proto-max-bulk-len`, 512 MB by default.
    public var maxBulkLength: Int
    /// Longest inline request or `*`/`$` header line before it is refused (PROTO_INLINE_MAX_SIZE, 64 KB).
    public var maxInlineLength: Int
    /// Before AUTH, Redis accepts at most 10 arguments of at most 16 KB each.
    public var maxUnauthenticatedArguments: Int
    public var maxUnauthenticatedBulkLength: Int

    public init(
        maxBulkLength: Int = 512 * 1024 * 1024,
        maxInlineLength: Int = 64 * 1024,
        maxUnauthenticatedArguments: Int = 10,
        maxUnauthenticatedBulkLength: Int = 16384
    ) {
        self.maxBulkLength = maxBulkLength
        self.maxInlineLength = maxInlineLength
        self.maxUnauthenticatedArguments = maxUnauthenticatedArguments
        self.maxUnauthenticatedBulkLength = maxUnauthenticatedBulkLength
    }
}
