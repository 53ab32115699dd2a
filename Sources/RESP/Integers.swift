/// Strict decimal parsing with Redis's `string2ll` rules: optional leading `-`, no `+`, no leading zeros,
/// no spaces, at most 20 characters, and the result must fit in an `Int64`.
/// Used for protocol lengths and for every integer argument or value, so both agree on what a number is.
@inlinable
public func parseInt64(_ bytes: UnsafeRawBufferPointer) -> Int64? {
    let count = bytes.count
    if count == 0 || count > 20 { return nil }
    if count == 1, bytes[0] == UInt8(ascii: "0") { return 0 }
    var index = 0
    var negative = false
    if bytes[0] == UInt8(ascii: "-") {
        negative = true
        index = 1
        if count == 1 { return nil }
    }
    // The first digit must be 1-9: "0" alone was handled above, "01" and "-0" are not numbers.
    let first = bytes[index]
    guard first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9") else { return nil }
    var magnitude = UInt64(first - UInt8(ascii: "0"))
    index += 1
    while index < count {
        let byte = bytes[index]
        guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
        if overflow1 || overflow2 { return nil }
        magnitude = sum
        index += 1
    }
    if negative {
        if magnitude > UInt64(Int64.max) + 1 { return nil }
        return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
    }
    if magnitude > UInt64(Int64.max) { return nil }
    return Int64(magnitude)
}

@inlinable
public func parseInt64<Bytes: Collection>(_ bytes: Bytes) -> Int64? where Bytes.Element == UInt8 {
    if let result = bytes.withContiguousStorageIfAvailable({ parseInt64(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    return Array(bytes).withUnsafeBytes { parseInt64($0) }
}

/// Lends the decimal form of `value` to `body`, formatted on the stack (INCR stores it without allocating).
@inlinable
public func withDecimalBytes<R>(_ value: Int64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    var magnitude = value.magnitude
    var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: a sign and up to 20 digits
    return Swift.withUnsafeMutableBytes(of: &scratch) { digits -> R in
        var position = digits.count
        repeat {
            position -= 1
            digits[position] = UInt8(ascii: "0") &+ UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        if value < 0 {
            position -= 1
            digits[position] = UInt8(ascii: "-")
        }
        return body(UnsafeRawBufferPointer(rebasing: digits[position...]))
    }
}

extension Array where Element == UInt8 {
    /// Appends the decimal form of `value` without going through `String`.
    @inlinable
    public mutating func appendDecimal(_ value: Int64) {
        withDecimalBytes(value) { append(contentsOf: $0) }
    }
}
