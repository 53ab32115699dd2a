/// Glob matching as Redis's `stringmatchlen`: `*`, `?`, `[abc]`, `[^a]`, `[a-z]` and `\` escapes.
/// Used by KEYS, SCAN MATCH and CONFIG GET. Recursion on `*` is bounded by collapsing runs of `*` and
/// trying each suffix iteratively, so a hostile pattern costs O(pattern × string), not exponential time.
public func globMatch(_ pattern: [UInt8], _ string: [UInt8], caseInsensitive: Bool = false) -> Bool {
    pattern.withUnsafeBufferPointer { p in
        string.withUnsafeBufferPointer { s in globMatch(p, s, caseInsensitive: caseInsensitive) }
    }
}

public func globMatch(
    _ pattern: UnsafeBufferPointer<UInt8>, _ string: UnsafeBufferPointer<UInt8>, caseInsensitive: Bool
) -> Bool {
    @inline(__always) func fold(_ byte: UInt8) -> UInt8 {
        caseInsensitive && byte >= 65 && byte <= 90 ? byte + 32 : byte
    }
    var p = 0
    var s = 0
    // Where to resume after the last `*`: the pattern position after it and the string position it matched up to.
    var starP = -1
    var starS = 0
    while s < string.count {
        if p < pattern.count {
            switch pattern[p] {
            case UInt8(ascii: "*"):
                while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
                if p == pattern.count { return true }
                starP = p
                starS = s
                continue
            case UInt8(ascii: "?"):
                p += 1
                s += 1
                continue
            case UInt8(ascii: "["):
                var q = p + 1
                let negate = q < pattern.count && pattern[q] == UInt8(ascii: "^")
                if negate { q += 1 }
                var matched = false
                let c = fold(string[s])
                while q < pattern.count, pattern[q] != UInt8(ascii: "]") {
                    if pattern[q] == UInt8(ascii: "\\"), q + 1 < pattern.count {
                        q += 1
                        if fold(pattern[q]) == c { matched = true }
                    } else if q + 2 < pattern.count, pattern[q + 1] == UInt8(ascii: "-"),
                        pattern[q + 2] != UInt8(ascii: "]")
                    {
                        var low = fold(pattern[q])
                        var high = fold(pattern[q + 2])
                        if low > high { swap(&low, &high) }
                        if c >= low && c <= high { matched = true }
                        q += 2
                    } else if fold(pattern[q]) == c {
                        matched = true
                    }
                    q += 1
                }
                if negate { matched.toggle() }
                if matched {
                    p = min(q + 1, pattern.count)
                    s += 1
                    continue
                }
            case UInt8(ascii: "\\") where p + 1 < pattern.count:
                if fold(pattern[p + 1]) == fold(string[s]) {
                    p += 2
                    s += 1
                    continue
                }
            default:
                if fold(pattern[p]) == fold(string[s]) {
                    p += 1
                    s += 1
                    continue
                }
            }
        }
        // Mismatch: let the last `*` swallow one more byte, or fail.
        guard starP >= 0 else { return false }
        starS += 1
        s = starS
        p = starP
    }
    while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
    return p == pattern.count
}
