import RESP
import ShoalStore

/// A command's argv as views into the connection's input buffer (or the parser's inline storage). Valid only
/// while the command runs; handlers copy out just what they store.
public struct Arguments {
    let base: UnsafeRawPointer?
    let spans: UnsafeBufferPointer<ArgSpan>

    init(base: UnsafeRawPointer?, spans: UnsafeBufferPointer<ArgSpan>) {
        self.base = base
        self.spans = spans
    }

    public var count: Int { spans.count }

    public subscript(_ index: Int) -> UnsafeRawBufferPointer {
        let span = spans[index]
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + span.offset, count: span.count)
    }

    public func bytes(_ index: Int) -> [UInt8] { Array(self[index]) }

    public func string(_ index: Int) -> String { String(decoding: self[index], as: UTF8.self) }

    public func key(_ index: Int) -> KeyView { KeyView(self[index]) }

    /// The argument as an integer, or Redis's "value is not an integer or out of range".

    public func integer(_ index: Int) throws(CommandError) -> Int64 {
        guard let value = parseInt64(self[index]) else { throw .notInteger }
        return value
    }

    /// The argument as a double, or "value is not a valid float".
    public func double(_ index: Int) throws(CommandError) -> Double {
        guard let value = parseDouble(self[index]) else { throw .notFloat }
        return value
    }

    /// Case-insensitive comparison with an ASCII option name such as `EX` or `nx`.

    public func matches(_ index: Int, _ option: StaticString) -> Bool {
        let argument = self[index]
        guard argument.count == option.utf8CodeUnitCount else { return false }
        let text = option.utf8Start
        for offset in 0..<argument.count where asciiLower(argument[offset]) != asciiLower(text[offset]) {
            return false
        }
        return true
    }

    /// The lowercased text, for error messages and subcommand names.
    public func lowercased(_ index: Int) -> String { string(index).lowercased() }
}

/// Parses a float as Redis's `string2ld`: no spaces, no empty string, "inf"/"-inf" allowed, NaN refused.
public func parseDouble(_ bytes: UnsafeRawBufferPointer) -> Double? {
    guard bytes.count > 0, bytes.count <= 5120 else { return nil }
    let first = bytes[0]
    let last = bytes[bytes.count - 1]
    if first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09 { return nil }
    // Redis's strtold must consume every byte: "1\0" (SETRANGE can make it) is not a number, though a C parser
    // would stop at the NUL and read 1.
    if bytes.contains(0) { return nil }
    let text = String(decoding: bytes, as: UTF8.self)
    let value: Double?
    switch text.lowercased() {
    case "inf", "+inf", "infinity", "+infinity": value = .infinity
    case "-inf", "-infinity": value = -.infinity
    default: value = Double(text)
    }
    guard let value, !value.isNaN else { return nil }
    return value
}

/// Lowercases A-Z only (folding with `| 0x20` would also equate `\r` with `-`).
@inline(__always)
func asciiLower(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte | 0x20 : byte }
