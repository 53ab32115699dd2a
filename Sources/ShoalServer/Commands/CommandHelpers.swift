import CShoalPosix
import RESP
import ShoalStore

extension TableReading {
    /// Lends the string value at `index` to `body`, in place; WRONGTYPE for any other type.
    @inline(__always)
    func withString<R>(
        at index: Int, _ body: (UnsafeRawBufferPointer) throws(CommandError) -> R
    ) throws(CommandError) -> R {
        guard isString(at: index) else { throw .wrongType }
        return try withStringBytes(at: index, body)
    }

    /// The length of the string value at `index`; WRONGTYPE for any other type.
    func stringLength(at index: Int) throws(CommandError) -> Int { try withString(at: index) { $0.count } }
}

/// The deadline options shared by SET, GETEX and the EXPIRE family.
enum ExpiryArgument {
    case none
    case keepTTL
    case persist
    /// An absolute deadline in milliseconds.
    case at(Milliseconds)
}

/// Turns an EX/PX/EXAT/PXAT amount into an absolute deadline in milliseconds, with Redis's checks
/// (`getExpireMillisecondsOrReply`): not an integer → "value is not an integer", zero, negative or overflowing
/// → "invalid expire time in '<command>' command".
func absoluteDeadline(
    _ amount: Int64, seconds: Bool, relative: Bool, now: Milliseconds, command: String
) throws(CommandError) -> Milliseconds {
    guard amount > 0 else { throw .invalidExpire(command) }
    return try deadline(amount, seconds: seconds, relative: relative, now: now, command: command)
}

/// An amount of seconds or milliseconds, relative to `now` or absolute, as absolute milliseconds; "invalid
/// expire time in '<command>' command" when the arithmetic overflows. Shared by SET/GETEX and EXPIRE.
func deadline(
    _ amount: Int64, seconds: Bool, relative: Bool, now: Milliseconds, command: String
) throws(CommandError) -> Milliseconds {
    var milliseconds = amount
    if seconds {
        let (product, overflow) = amount.multipliedReportingOverflow(by: 1000)
        if overflow { throw .invalidExpire(command) }
        milliseconds = product
    }
    if relative {
        let (sum, overflow) = milliseconds.addingReportingOverflow(now)
        if overflow { throw .invalidExpire(command) }
        milliseconds = sum
    }
    return milliseconds
}

extension CommandContext {
    /// Whether the argument at `index` is EX, PX, EXAT or PXAT.
    func isExpiryOption(at index: Int) -> Bool {
        args.matches(index, "EX") || args.matches(index, "EXAT") || args.matches(index, "PX")
            || args.matches(index, "PXAT")
    }

    /// The deadline of an `EX s`, `PX ms`, `EXAT ts` or `PXAT ms` option at `index` (its amount at index + 1),
    /// or nil when the argument there is none of them. SET and GETEX share it.
    func expiryOption(at index: Int, command: String) throws(CommandError) -> Milliseconds? {
        guard isExpiryOption(at: index) else { return nil }
        let seconds = args.matches(index, "EX") || args.matches(index, "EXAT")
        let relative = args.matches(index, "EX") || args.matches(index, "PX")
        return try absoluteDeadline(
            try args.integer(index + 1), seconds: seconds, relative: relative, now: now,
            command: command)
    }
}

extension ShardTable {
    /// A read-modify-write's result: replaces the string at `existing`, keeping its deadline (INCR keeps a TTL),
    /// or inserts `key` with it when the lookup found nothing.
    mutating func putString(_ bytes: UnsafeRawBufferPointer, at existing: Int?, key: KeyView, now: Milliseconds) {
        if let existing { setString(at: existing, bytes) } else { insert(key, string: bytes, now: now) }
    }

    /// Changes the string at `index` in place (APPEND, SETRANGE): the table lets go of its reference first, so
    /// the bytes are not copied when nothing else (a snapshot) shares them. Returns the new length.
    mutating func modifyString(at index: Int, _ body: (inout [UInt8]) -> Void) -> Int {
        modifyValue(at: index) { value -> Int in
            guard case .string(var bytes) = value else { preconditionFailure("modifyString on a non-string") }
            value = .string([])
            body(&bytes)
            value = .string(bytes)
            return bytes.count
        }
    }
}

/// Redis's `long double` (80-bit extended precision on x86-64 Linux).
typealias LongDouble = Float80

/// Redis's string2ld: the bytes as a long double, or nil (spaces, trailing bytes, a NUL, NaN, overflow).
func parseLongDouble(_ bytes: UnsafeRawBufferPointer) -> LongDouble? {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return nil }
    var value: LongDouble = 0
    let parsed = cshoal_parse_long_double(base.assumingMemoryBound(to: CChar.self), bytes.count, &value)
    return parsed == 1 ? value : nil
}

/// Redis's ld2string(LD_STR_HUMAN): 17 decimals, trailing zeros removed, no exponent.
func formatLongDouble(_ value: LongDouble) -> [UInt8] {
    var buffer = [CChar](repeating: 0, count: 5 * 1024)
    let length = cshoal_format_long_double(value, &buffer, buffer.count)
    guard length > 0 else { return Array("0".utf8) }
    return buffer[..<Int(length)].map { UInt8(bitPattern: $0) }
}

extension CommandContext {
    /// Validates a database index argument as SELECT, MOVE, COPY and SWAPDB do.
    func databaseIndex(_ argument: Int, error: CommandError = .dbIndexOutOfRange) throws(CommandError) -> Int {
        let value = try args.integer(argument)
        guard value >= 0, value < Int64(store.databaseCount) else { throw error }
        return Int(value)
    }

    /// Replies with the string value at `index`, copied straight from the table into the reply.
    @inline(__always)
    func replyString(_ table: some TableReading, _ index: Int) throws(CommandError) {
        try table.withString(at: index) { bytes throws(CommandError) in out.bulk(bytes) }
    }

    /// The reply of GET and its kin: the value at `index`, or nil when the lookup found nothing; counts the
    /// lookup as a keyspace hit or miss. Returns whether the key was found.
    @discardableResult
    func replyLookup(_ table: some TableReading, _ index: Int?, keyAt keyIndex: Int = 1) throws(CommandError) -> Bool {
        noteLookup(hit: index != nil)
        guard let index else {
            notify(.keyMiss, "keymiss", keyAt: keyIndex)
            out.null()
            return false
        }
        try replyString(table, index)
        return true
    }

    var maxBulkLength: Int { client.settings.current.protoMaxBulkLen }
}
