/// Splits an inline request line into arguments with Redis's quoting rules (`sdssplitargs` in `sds.c`):
/// whitespace separates arguments; `"..."` understands `\n \r \t \b \a \\ \"` and `\xHH`; `'...'` understands
/// only `\'`; a closing quote must be followed by whitespace or the end of the line.
/// Unescaped bytes are appended to `storage`, and each argument's place in it to `spans`.
/// Returns false for unbalanced quotes.
@inlinable
func splitInlineArguments(
    _ line: UnsafeRawBufferPointer,
    storage: inout [UInt8],
    spans: inout [ArgSpan]
) -> Bool {
    var index = 0
    let end = line.count
    @inline(__always) func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0B || byte == 0x0C || byte == 0x0D
    }
    @inline(__always) func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
    while true {
        while index < end, isSpace(line[index]) { index += 1 }
        if index >= end { return true }
        let start = storage.count
        var inDoubleQuotes = false
        var inSingleQuotes = false
        var done = false
        while !done {
            if inDoubleQuotes {
                guard index < end else { return false }
                let byte = line[index]
                if byte == UInt8(ascii: "\\"), index + 3 < end, line[index + 1] == UInt8(ascii: "x"),
                    let high = hexValue(line[index + 2]), let low = hexValue(line[index + 3])
                {
                    storage.append(high << 4 | low)
                    index += 3
                } else if byte == UInt8(ascii: "\\"), index + 1 < end {
                    index += 1
                    switch line[index] {
                    case UInt8(ascii: "n"): storage.append(0x0A)
                    case UInt8(ascii: "r"): storage.append(0x0D)
                    case UInt8(ascii: "t"): storage.append(0x09)
                    case UInt8(ascii: "b"): storage.append(0x08)
                    case UInt8(ascii: "a"): storage.append(0x07)
                    default: storage.append(line[index])
                    }
                } else if byte == UInt8(ascii: "\"") {
                    // The closing quote must be followed by a space or nothing.
                    if index + 1 < end, !isSpace(line[index + 1]) { return false }
                    done = true
                } else {
                    storage.append(byte)
                }
                index += 1
            } else if inSingleQuotes {
                guard index < end else { return false }
                let byte = line[index]
                if byte == UInt8(ascii: "\\"), index + 1 < end, line[index + 1] == UInt8(ascii: "'") {
                    index += 1
                    storage.append(UInt8(ascii: "'"))
                } else if byte == UInt8(ascii: "'") {
                    if index + 1 < end, !isSpace(line[index + 1]) { return false }
                    done = true
                } else {
                    storage.append(byte)
                }
                index += 1
            } else {
                guard index < end else { break }
                let byte = line[index]
                switch byte {
                case 0x20, 0x0A, 0x0D, 0x09, 0x00:
                    done = true
                case UInt8(ascii: "\""):
                    inDoubleQuotes = true
                case UInt8(ascii: "'"):
                    inSingleQuotes = true
                default:
                    storage.append(byte)
                }
                index += 1
            }
        }
        spans.append(ArgSpan(offset: start, count: storage.count - start))
    }
}

/// Splits a line into arguments with Redis's quoting rules (for config files and inline text).
/// Returns nil for unbalanced quotes.
public func splitArguments(_ line: String) -> [String]? {
    var storage: [UInt8] = []
    var spans: [ArgSpan] = []
    var line = line
    let ok = line.withUTF8 { splitInlineArguments(UnsafeRawBufferPointer($0), storage: &storage, spans: &spans) }
    guard ok else { return nil }
    return spans.map { String(decoding: storage[$0.offset..<($0.offset + $0.count)], as: UTF8.self) }
}
