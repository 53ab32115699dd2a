import RESP
import ShoalStore

#if canImport(Glibc)
    import Glibc
#endif

// The sorted set commands (Redis 7.0's t_zset.c), argument checks in Redis's order. Single-key changes run under
// one shard write lock; ZRANGESTORE and the *STORE set operations hold every shard they touch.

extension CommandError {
    static let minMaxNotFloat = CommandError("ERR min or max is not a float")
    static let minMaxNotString = CommandError("ERR min or max not valid string range item")
    static let scoreIsNaN = CommandError("ERR resulting score is not a number (NaN)")
    static let xxAndNx = CommandError("ERR XX and NX options at the same time are not compatible")
    static let gtLtNx = CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    static let incrSinglePair = CommandError("ERR INCR option supports a single increment-element pair")
    static let limitNeedsBy = CommandError(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    static let withscoresWithBylex = CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    static let weightNotFloat = CommandError("ERR weight value is not a float")

    static func atLeastOneKey(_ command: String) -> CommandError {
        CommandError("ERR at least 1 input key is needed for '\(command)' command")
    }
}

/// C's strtod over `bytes` made a C string (so it stops at a NUL byte): the value, how many bytes it read, and
/// whether it set ERANGE. ZADD's scores, ZRANGEBYSCORE's bounds and SORT's keys all read numbers this way, each
/// with its own acceptance rule.
func cStrtod(_ bytes: UnsafeRawBufferPointer) -> (value: Double, consumed: Int, rangeError: Bool) {
    var text = Array(bytes)
    text.append(0)
    return text.withUnsafeBufferPointer { buffer in
        let start = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
        var end: UnsafeMutablePointer<CChar>?
        errno = 0
        let value = strtod(start, &end)
        let consumed = end.map { UnsafeRawPointer($0) - UnsafeRawPointer(start) } ?? 0
        return (value, consumed, errno == ERANGE)
    }
}

/// A score as ZADD reads it (Redis's getDoubleFromObject: strtod over all the bytes, no leading space, no NaN,
/// no overflow or underflow).
func parseScore(_ bytes: UnsafeRawBufferPointer) -> Double? {
    // Most scores are integers: exact as doubles below 2^53, and what strtod would read.
    if let integer = parseInt64(bytes), integer.magnitude < 1 << 53 { return Double(integer) }
    guard bytes.count > 0, bytes.count < 5120, bytes[0] != 0x20, !(0x09...0x0D).contains(bytes[0]) else { return nil }
    let (value, consumed, rangeError) = cStrtod(bytes)
    guard consumed == bytes.count, !value.isNaN else { return nil }
    if rangeError && (value.isInfinite || value == 0) { return nil }
    return value
}

/// One end of a BYSCORE range: `(` for exclusive, then what strtod reads in full (Redis's zslParseRange).
struct ScoreBound {
    let value: Double
    let exclusive: Bool

    init?(_ bytes: UnsafeRawBufferPointer) {
        var body = bytes
        exclusive = bytes.first == UInt8(ascii: "(")
        if exclusive { body = UnsafeRawBufferPointer(rebasing: bytes[1...]) }
        let (parsed, consumed, _) = cStrtod(body)
        guard consumed == body.count, !parsed.isNaN else { return nil }
        value = parsed
    }

    func admitsAsMinimum(_ score: Double) -> Bool { exclusive ? score > value : score >= value }
    func admitsAsMaximum(_ score: Double) -> Bool { exclusive ? score < value : score <= value }
}

/// One end of a BYLEX range: `-`, `+`, `[member` or `(member` (Redis's zslParseLexRangeItem).
enum LexBound {
    case minimum, maximum
    case member([UInt8], exclusive: Bool)

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return nil }
        switch first {
        case UInt8(ascii: "-") where bytes.count == 1: self = .minimum
        case UInt8(ascii: "+") where bytes.count == 1: self = .maximum
        case UInt8(ascii: "["): self = .member(Array(bytes[1...]), exclusive: false)
        case UInt8(ascii: "("): self = .member(Array(bytes[1...]), exclusive: true)
        default: return nil
        }
    }

    func admitsAsMinimum(_ member: UnsafeRawBufferPointer) -> Bool {
        switch self {
        case .minimum: return true
        case .maximum: return false
        case .member(let bound, let exclusive):
            let order = bound.withUnsafeBytes { compareBytes(member, $0) }
            return exclusive ? order > 0 : order >= 0
        }
    }

    /// Whether [self, maximum] can hold nothing (sdscmplex(min, max) > 0, or equal with an exclusive end).
    func excludesEverything(below maximum: LexBound) -> Bool {
        switch (self, maximum) {
        case (.maximum, _), (_, .minimum): return true
        case (.minimum, _), (_, .maximum): return false
        case (.member(let low, let lowExclusive), .member(let high, let highExclusive)):
            let order = low.withUnsafeBytes { a in high.withUnsafeBytes { b in compareBytes(a, b) } }
            return order > 0 || (order == 0 && (lowExclusive || highExclusive))
        }
    }

    func admitsAsMaximum(_ member: UnsafeRawBufferPointer) -> Bool {
        switch self {
        case .minimum: return false
        case .maximum: return true
        case .member(let bound, let exclusive):
            let order = bound.withUnsafeBytes { compareBytes(member, $0) }
            return exclusive ? order < 0 : order <= 0
        }
    }
}

extension ReplyBuffer {
    /// A member with its score: flat in RESP2, a two-element array in RESP3 (when `nested`).
    mutating func scoredMember(_ member: UnsafeRawBufferPointer, _ score: Double, nested: Bool) {
        if nested { arrayHeader(2) }
        bulk(member)
        double(score)
    }

    /// A sorted-set reply: members only, or with their scores, flat or (`nested`) in pairs.
    mutating func scoredEntries(_ entries: [(member: [UInt8], score: Double)], withScores: Bool, nested: Bool) {
        arrayHeader(withScores && !nested ? entries.count * 2 : entries.count)
        for entry in entries {
            if withScores {
                entry.member.withUnsafeBytes { scoredMember($0, entry.score, nested: nested) }
            } else {
                bulk(entry.member)
            }
        }
    }
}

extension Array where Element == (member: [UInt8], score: Double) {
    /// A STORE destination's value: a sorted set of these entries, or nil (delete it) when there are none.
    func storedSortedSet(_ limits: EncodingLimits) -> Value? {
        isEmpty ? nil : .sortedSet(SortedSetValue(entries: self, limits: limits))
    }
}

// MARK: - ZADD, ZINCRBY, ZREM

func zaddCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    var nx = false
    var xx = false
    var gt = false
    var lt = false
    var ch = false
    var incr = false
    var index = 2
    while index < args.count {
        if args.matches(index, "NX") {
            nx = true
        } else if args.matches(index, "XX") {
            xx = true
        } else if args.matches(index, "GT") {
            gt = true
        } else if args.matches(index, "LT") {
            lt = true
        } else if args.matches(index, "CH") {
            ch = true
        } else if args.matches(index, "INCR") {
            incr = true
        } else {
            break
        }
        index += 1
    }
    let pairs = args.count - index
    guard pairs > 0, pairs % 2 == 0 else { throw .syntax }
    if nx && xx { throw .xxAndNx }
    if (gt && nx) || (lt && nx) || (gt && lt) { throw .gtLtNx }
    if incr && pairs > 2 { throw .incrSinglePair }
    var scores: [Double] = []
    for position in stride(from: index, to: args.count, by: 2) {
        guard let score = parseScore(args[position]) else { throw .notFloat }
        scores.append(score)
    }
    let members = scores.enumerated().map { (member: index + 2 * $0.offset + 1, score: $0.element) }
    let result = try applyScores(ctx, members, ZaddFlags(nx: nx, xx: xx, gt: gt, lt: lt, incr: incr))
    ctx.noteDirty(result.added + result.changed)
    if incr {
        if let score = result.score { ctx.out.double(score) } else { ctx.out.null() }
    } else {
        ctx.out.integer(ch ? result.added + result.changed : result.added)
    }
}

/// ZADD's conditions (GEOADD uses NX and XX only).
struct ZaddFlags {
    var nx = false
    var xx = false
    var gt = false
    var lt = false
    var incr = false
}

/// ZADD's core, shared with GEOADD (Redis turns GEOADD into a ZADD): sets the member at each argument index to
/// its score under `flags`, creating the key unless XX. Returns the members added, those whose score changed,
/// and the last score set (ZADD INCR's reply).
func applyScores(
    _ ctx: CommandContext, _ pairs: [(member: Int, score: Double)], _ flags: ZaddFlags
) throws(CommandError) -> (added: Int, changed: Int, score: Double?) {
    let args = ctx.args
    let limits = ctx.limits
    let (nx, xx, gt, lt, incr) = (flags.nx, flags.xx, flags.gt, flags.lt, flags.incr)
    let outcome = try ctx.writeCollection(creating: xx ? nil : { SortedSetValue() }) {
        (zset: inout SortedSetValue) throws(CommandError) -> (added: Int, changed: Int, score: Double?) in
        var added = 0
        var changed = 0
        var last: Double?
        for (memberIndex, score) in pairs {
            let member = args[memberIndex]
            if let current = zset.score(of: member) {
                if nx { continue }
                var new = score
                if incr {
                    new = current + score
                    if new.isNaN { throw .scoreIsNaN }
                }
                if (gt && new <= current) || (lt && new >= current) { continue }
                last = new
                if new != current {
                    zset.set(member, score: new, limits: limits)
                    changed += 1
                }
            } else {
                if xx { continue }
                zset.set(member, score: score, limits: limits)
                added += 1
                last = score
            }
        }
        return (added, changed, last)
    }
    if let outcome, outcome.added + outcome.changed > 0 { ctx.notify(.zset, incr ? "zincr" : "zadd", keyAt: 1) }
    return outcome ?? (0, 0, nil)
}

func zincrbyCommand(_ ctx: CommandContext) throws(CommandError) {
    guard let increment = parseScore(ctx.args[2]) else { throw .notFloat }
    let member = ctx.args[3]
    let limits = ctx.limits
    var changed = false
    let score = try ctx.writeCollection(creating: { SortedSetValue() }) {
        (zset: inout SortedSetValue) throws(CommandError) -> Double in
        let current = zset.score(of: member)
        let new = (current ?? 0) + increment
        if new.isNaN { throw .scoreIsNaN }
        changed = current != new
        zset.set(member, score: new, limits: limits)
        return new
    }
    ctx.noteDirty()
    if changed { ctx.notify(.zset, "zincr", keyAt: 1) }
    ctx.out.double(score ?? increment)
}

func zremCommand(_ ctx: CommandContext) throws(CommandError) { try ctx.removeMembers(SortedSetValue.self, notifying: .zset, "zrem") }

// MARK: - Reading members

func zcardCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(SortedSetValue.self) { zset in ctx.out.integer(zset?.count ?? 0) }
}

func zscoreCommand(_ ctx: CommandContext) throws(CommandError) {
    try ctx.readCollection(SortedSetValue.self) { zset in
        if let score = zset?.score(of: ctx.args[2]) { ctx.out.double(score) } else { ctx.out.null() }
    }
}

func zmscoreCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    try ctx.readCollection(SortedSetValue.self) { zset in
        ctx.out.arrayHeader(args.count - 2)
        for index in 2..<args.count {
            if let score = zset?.score(of: args[index]) { ctx.out.double(score) } else { ctx.out.null() }
        }
    }
}

private func rank(_ ctx: CommandContext, reverse: Bool) throws(CommandError) {
    try ctx.readCollection(SortedSetValue.self) { zset in
        guard let zset, let rank = zset.rank(of: ctx.args[2]) else {
            ctx.out.null()
            return
        }
        ctx.out.integer(reverse ? zset.count - 1 - rank : rank)
    }
}

func zrankCommand(_ ctx: CommandContext) throws(CommandError) { try rank(ctx, reverse: false) }
func zrevrankCommand(_ ctx: CommandContext) throws(CommandError) { try rank(ctx, reverse: true) }

func zcountCommand(_ ctx: CommandContext) throws(CommandError) {
    guard let minimum = ScoreBound(ctx.args[2]), let maximum = ScoreBound(ctx.args[3]) else { throw .minMaxNotFloat }
    try ctx.readCollection(SortedSetValue.self) { zset in
        ctx.out.integer(zset.map { ZRange.score(minimum, maximum).ranks(in: $0, reverse: false).count } ?? 0)
    }
}

func zlexcountCommand(_ ctx: CommandContext) throws(CommandError) {
    guard let minimum = LexBound(ctx.args[2]), let maximum = LexBound(ctx.args[3]) else { throw .minMaxNotString }
    try ctx.readCollection(SortedSetValue.self) { zset in
        ctx.out.integer(zset.map { ZRange.lex(minimum, maximum).ranks(in: $0, reverse: false).count } ?? 0)
    }
}

// MARK: - Ranges

/// What a ZRANGE selects: ranks, a score interval or a member interval.
enum ZRange {
    case rank(Int64, Int64)
    case score(ScoreBound, ScoreBound)
    case lex(LexBound, LexBound)

    /// The ranks selected, in reply order (descending when `reverse`), before LIMIT.
    func ranks(in zset: SortedSetValue, reverse: Bool) -> [Int] {
        let count = zset.count
        switch self {
        case .rank(let start, let end):
            guard let range = clampedRange(start, end, count: count) else { return [] }
            return reverse ? range.map { count - 1 - $0 } : Array(range)
        case .score(let minimum, let maximum):
            let first = zset.firstRank(scoreAbove: minimum.value, inclusive: !minimum.exclusive)
            var selected: [Int] = []
            zset.forEach(from: first) { rank, _, score in
                guard maximum.admitsAsMaximum(score) else { return false }
                selected.append(rank)
                return true
            }
            return reverse ? selected.reversed() : selected
        case .lex(let minimum, let maximum):
            // Redis's zslIsInLexRange: an empty range, a last member below the minimum or a first one above the
            // maximum mean nothing, before any search (it matters only when scores differ, where BYLEX is
            // undefined; this is Redis's answer then).
            guard count > 0, !minimum.excludesEverything(below: maximum) else { return [] }
            var lastMember: [UInt8] = []
            var firstMember: [UInt8] = []
            zset.forEach(from: count - 1) { _, member, _ in
                lastMember = Array(member)
                return false
            }
            zset.forEach(from: 0) { _, member, _ in
                firstMember = Array(member)
                return false
            }
            guard lastMember.withUnsafeBytes({ minimum.admitsAsMinimum($0) }),
                firstMember.withUnsafeBytes({ maximum.admitsAsMaximum($0) })
            else { return [] }
            var first = 0
            if case .member(let bound, let exclusive) = minimum {
                first = bound.withUnsafeBytes { zset.firstRank(memberAbove: $0, inclusive: !exclusive) }
            } else if case .maximum = minimum {
                return []
            }
            var selected: [Int] = []
            zset.forEach(from: first) { rank, member, _ in
                guard maximum.admitsAsMaximum(member) else { return false }
                selected.append(rank)
                return true
            }
            return reverse ? selected.reversed() : selected
        }
    }
}

/// The (member, score) entries of `ranks`, after LIMIT offset count (offset < 0: nothing; count < 0: all).
func selectEntries(
    _ zset: SortedSetValue, _ range: ZRange, reverse: Bool, offset: Int64, limit: Int64
) -> [(member: [UInt8], score: Double)] {
    guard offset >= 0 else { return [] }
    let ranks = range.ranks(in: zset, reverse: reverse)
    let start = Int(min(offset, Int64(ranks.count)))
    var end = ranks.count
    if limit >= 0 { end = min(end, start + Int(min(limit, Int64(ranks.count)))) }
    guard start < end else { return [] }
    let wanted = ranks[start..<end]
    // Walk the set once over the span of the wanted ranks.
    let low = wanted.min()!
    let high = wanted.max()!
    var byRank: [Int: (member: [UInt8], score: Double)] = [:]
    zset.forEach(from: low) { rank, member, score in
        guard rank <= high else { return false }
        byRank[rank] = (Array(member), score)
        return true
    }
    return wanted.map { byRank[$0]! }
}

/// ZRANGE and its family (Redis's zrangeGenericCommand): options, then the range, then the key.
private func zrangeGeneric(
    _ ctx: CommandContext, sourceIndex: Int, store: Bool, type presetType: Int? = nil, reverse presetReverse: Bool? = nil
) throws(CommandError) {
    let args = ctx.args
    var withScores = false
    var offset: Int64 = 0
    var limit: Int64 = -1
    var hasLimit = false
    var reverse = presetReverse
    var type = presetType  // 0 rank, 1 score, 2 lex
    var index = sourceIndex + 3
    while index < args.count {
        let left = args.count - index - 1
        if !store && args.matches(index, "WITHSCORES") {
            withScores = true
        } else if args.matches(index, "LIMIT") && left >= 2 {
            offset = try args.integer(index + 1)
            limit = try args.integer(index + 2)
            hasLimit = true
            index += 2
        } else if presetReverse == nil && reverse == nil && args.matches(index, "REV") {
            reverse = true
        } else if presetType == nil && type == nil && args.matches(index, "BYLEX") {
            type = 2
        } else if presetType == nil && type == nil && args.matches(index, "BYSCORE") {
            type = 1
        } else {
            throw .syntax
        }
        index += 1
    }
    let isReverse = reverse ?? false
    let rangeType = type ?? 0
    if hasLimit && rangeType == 0 { throw .limitNeedsBy }
    if withScores && rangeType == 2 { throw .withscoresWithBylex }
    var minimumIndex = sourceIndex + 1
    var maximumIndex = sourceIndex + 2
    if isReverse && rangeType != 0 { swap(&minimumIndex, &maximumIndex) }
    let range: ZRange
    switch rangeType {
    case 1:
        guard let minimum = ScoreBound(args[minimumIndex]), let maximum = ScoreBound(args[maximumIndex]) else {
            throw .minMaxNotFloat
        }
        range = .score(minimum, maximum)
    case 2:
        guard let minimum = LexBound(args[minimumIndex]), let maximum = LexBound(args[maximumIndex]) else {
            throw .minMaxNotString
        }
        range = .lex(minimum, maximum)
    default:
        range = .rank(try args.integer(minimumIndex), try args.integer(maximumIndex))
    }
    if store {
        let destination = args.key(1)
        let source = args.key(sourceIndex)
        let limits = ctx.limits
        let stored = try ctx.store.withKeys(
            database: ctx.database, hashes: [destination.hash, source.hash], exclusive: true
        ) { group throws(CommandError) -> Int in
            let zset = try group.readCollection(SortedSetValue.self, ctx.database, source, now: ctx.now)
            if zset == nil { ctx.notify(.keyMiss, "keymiss", source) }
            let entries = zset.map { selectEntries($0, range, reverse: isReverse, offset: offset, limit: limit) } ?? []
            group.store(
                entries.storedSortedSet(limits), at: destination, database: ctx.database, now: ctx.now,
                server: ctx.server, .zset, "zrangestore")
            return entries.count
        }
        ctx.noteDirty()
        ctx.out.integer(stored)
        return
    }
    try ctx.readCollection(SortedSetValue.self, key: sourceIndex) { zset in
        let entries = zset.map { selectEntries($0, range, reverse: isReverse, offset: offset, limit: limit) } ?? []
        ctx.out.scoredEntries(entries, withScores: withScores, nested: withScores && ctx.out.isResp3)
    }
}

func zrangeCommand(_ ctx: CommandContext) throws(CommandError) { try zrangeGeneric(ctx, sourceIndex: 1, store: false) }
func zrangestoreCommand(_ ctx: CommandContext) throws(CommandError) {
    try zrangeGeneric(ctx, sourceIndex: 2, store: true)
}
func zrevrangeCommand(_ ctx: CommandContext) throws(CommandError) {
    try zrangeGeneric(ctx, sourceIndex: 1, store: false, type: 0, reverse: true)
}
func zrangebyscoreCommand(_ ctx: CommandContext) throws(CommandError) {
    try zrangeGeneric(ctx, sourceIndex: 1, store: false, type: 1, reverse: false)
}
func zrevrangebyscoreCommand(_ ctx: CommandContext) throws(CommandError) {
    try zrangeGeneric(ctx, sourceIndex: 1, store: false, type: 1, reverse: true)
}
func zrangebylexCommand(_ ctx: CommandContext) throws(CommandError) {
    try zrangeGeneric(ctx, sourceIndex: 1, store: false, type: 2, reverse: false)
}
func zrevrangebylexCommand(_ ctx: CommandContext) throws(CommandError) {
    try zrangeGeneric(ctx, sourceIndex: 1, store: false, type: 2, reverse: true)
}

/// ZREMRANGEBYRANK/BYSCORE/BYLEX: the range is parsed before the key is looked up.
private func zremrange(_ ctx: CommandContext, _ range: ZRange) throws(CommandError) {
    let removed = try ctx.writeCollection(creating: nil) { (zset: inout SortedSetValue) throws(CommandError) -> Int in
        let entries = selectEntries(zset, range, reverse: false, offset: 0, limit: -1)
        for entry in entries { entry.member.withUnsafeBytes { _ = zset.remove($0) } }
        return entries.count
    } ?? 0
    ctx.noteDirty(removed)
    if removed > 0 { ctx.notifyCollection(.zset, ctx.args.lowercased(0), keyAt: 1) }
    ctx.out.integer(removed)
}

func zremrangebyrankCommand(_ ctx: CommandContext) throws(CommandError) {
    try zremrange(ctx, .rank(try ctx.args.integer(2), try ctx.args.integer(3)))
}

func zremrangebyscoreCommand(_ ctx: CommandContext) throws(CommandError) {
    guard let minimum = ScoreBound(ctx.args[2]), let maximum = ScoreBound(ctx.args[3]) else { throw .minMaxNotFloat }
    try zremrange(ctx, .score(minimum, maximum))
}

func zremrangebylexCommand(_ ctx: CommandContext) throws(CommandError) {
    guard let minimum = LexBound(ctx.args[2]), let maximum = LexBound(ctx.args[3]) else { throw .minMaxNotString }
    try zremrange(ctx, .lex(minimum, maximum))
}

// MARK: - Popping

/// Pops up to `count` entries from the lowest (`max` false) or highest end.
func popEntries(_ zset: inout SortedSetValue, max: Bool, count: Int) -> [(member: [UInt8], score: Double)] {
    var popped: [(member: [UInt8], score: Double)] = []
    let start = max ? zset.count - 1 : 0
    zset.forEach(from: start, reverse: max) { _, member, score in
        guard popped.count < count else { return false }
        popped.append((Array(member), score))
        return true
    }
    for entry in popped { entry.member.withUnsafeBytes { _ = zset.remove($0) } }
    return popped
}

/// ZPOPMIN and ZPOPMAX `key [count]`.
private func zpop(_ ctx: CommandContext, max: Bool) throws(CommandError) {
    let args = ctx.args
    guard args.count <= 3 else { throw .syntax }
    var count = 1
    if args.count == 3 {
        guard let value = parseInt64(args[2]), value >= 0 else { throw .countNotPositive }
        count = Int(value)
    }
    let popped = try ctx.writeCollection(creating: nil) {
        (zset: inout SortedSetValue) throws(CommandError) -> [(member: [UInt8], score: Double)] in
        popEntries(&zset, max: max, count: count)
    } ?? []
    ctx.noteDirty(popped.count)
    if !popped.isEmpty { ctx.notifyCollection(.zset, max ? "zpopmax" : "zpopmin", keyAt: 1) }
    // RESP3 pairs each member with its score when a count was given (Redis 7.0); RESP2 is always flat.
    ctx.out.scoredEntries(popped, withScores: true, nested: ctx.out.isResp3 && args.count == 3)
}

func zpopminCommand(_ ctx: CommandContext) throws(CommandError) { try zpop(ctx, max: false) }
func zpopmaxCommand(_ ctx: CommandContext) throws(CommandError) { try zpop(ctx, max: true) }

/// ZMPOP and BZMPOP's `numkeys key [key ...] MIN|MAX [COUNT count]` from argument `start`.
private func parseZMultiPop(_ ctx: CommandContext, from start: Int) throws(CommandError) -> BlockingRequest {
    let args = ctx.args
    let keysEnd = try ctx.numkeysEnd(at: start)
    guard keysEnd < args.count else { throw .syntax }
    let max: Bool
    if args.matches(keysEnd, "MIN") {
        max = false
    } else if args.matches(keysEnd, "MAX") {
        max = true
    } else {
        throw .syntax
    }
    let count = try ctx.optionalCount(from: keysEnd + 1)
    let keys = ((start + 1)..<keysEnd).map { args.key($0).owned() }
    return BlockingRequest(kind: .zsetMultiPop(max: max, count: count ?? 1), keys: keys)
}

func zmpopCommand(_ ctx: CommandContext) throws(CommandError) {
    try runBlocking(ctx, try parseZMultiPop(ctx, from: 1), deadline: nil)
}

func bzmpopCommand(_ ctx: CommandContext) throws(CommandError) {
    let deadline = try ctx.args.blockingDeadline(1, now: ctx.now)
    try runBlocking(ctx, try parseZMultiPop(ctx, from: 2), deadline: deadline)
}

private func bzpop(_ ctx: CommandContext, max: Bool) throws(CommandError) {
    let args = ctx.args
    let deadline = try args.blockingDeadline(args.count - 1, now: ctx.now)
    let keys = (1..<(args.count - 1)).map { args.key($0).owned() }
    try runBlocking(ctx, BlockingRequest(kind: .zsetPop(max: max), keys: keys), deadline: deadline)
}

func bzpopminCommand(_ ctx: CommandContext) throws(CommandError) { try bzpop(ctx, max: false) }
func bzpopmaxCommand(_ ctx: CommandContext) throws(CommandError) { try bzpop(ctx, max: true) }

// MARK: - Random members and scans

func zrandmemberCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    guard args.count >= 3 else {
        try ctx.readCollection(SortedSetValue.self) { zset in
            guard let zset, zset.count > 0 else {
                ctx.out.null()
                return
            }
            var generator = SystemRandomNumberGenerator()
            zset.forEach(from: Int.random(in: 0..<zset.count, using: &generator)) { _, member, _ in
                ctx.out.bulk(member)
                return false
            }
        }
        return
    }
    let request = try RandomCount(args, 2)
    guard args.count == 3 || (args.count == 4 && args.matches(3, "WITHSCORES")) else { throw .syntax }
    let withScores = args.count == 4
    if withScores && request.count > Int.max / 2 { throw .valueOutOfRange }
    try ctx.readCollection(SortedSetValue.self) { zset in
        guard let zset, request.count > 0 else {
            ctx.out.arrayHeader(0)
            return
        }
        ctx.out.scoredEntries(
            randomPicks(zset.entries, request), withScores: withScores, nested: withScores && ctx.out.isResp3)
    }
}

func zscanCommand(_ ctx: CommandContext) throws(CommandError) {
    let cursor = try scanCursor(ctx.args, 2)
    try ctx.readCollection(SortedSetValue.self) { zset throws(CommandError) in
        // A sorted set is returned whole, in order (Redis does so for listpacks; for tables its cursor walks a
        // hash table, whose order differs anyway).
        try ctx.replyScan(cursor, zset.map { zset in { _, options, items in
            zset.forEach(from: 0) { _, member, score in
                if options.matches(member) {
                    items.append(Array(member))
                    items.append(Array(formatDouble(score).utf8))
                }
                return true
            }
            return 0
        } })
    }
}

// MARK: - Union, intersection, difference

enum Aggregate {
    case sum, minimum, maximum

    func combine(_ a: Double, _ b: Double) -> Double {
        switch self {
        case .sum:
            let total = a + b
            return total.isNaN ? 0 : total  // inf + -inf: Redis says 0
        case .minimum: return min(a, b)
        case .maximum: return max(a, b)
        }
    }
}

/// The inputs of ZUNION/ZINTER/ZDIFF (and their STOREs): sorted sets, or plain sets (every member scoring 1).
private func readScoredInputs(
    _ ctx: CommandContext, group: ShardGroup, keys: [KeyView]
) throws(CommandError) -> [[(member: [UInt8], score: Double)]?] {
    var inputs: [[(member: [UInt8], score: Double)]?] = []
    for key in keys {
        let input = try group.readTable(database: ctx.database, hash: key.hash) {
            table throws(CommandError) -> [(member: [UInt8], score: Double)]? in
            guard let index = table.lookup(key, now: ctx.now) else {
                ctx.notify(.keyMiss, "keymiss", key)
                return nil
            }
            if let zset = table.asSortedSet(at: index) { return zset.entries }
            if let set = table.asSet(at: index) { return set.members.map { ($0, 1.0) } }
            throw .wrongType
        }
        inputs.append(input)
    }
    return inputs
}

enum ZSetOperation {
    case union, intersection, difference
}

/// The combined entries, ordered as a sorted set.
func combineScored(
    _ inputs: [[(member: [UInt8], score: Double)]?], _ operation: ZSetOperation, weights: [Double], aggregate: Aggregate
) -> [(member: [UInt8], score: Double)] {
    func weighted(_ score: Double, _ weight: Double) -> Double {
        let value = score * weight
        return value.isNaN ? 0 : value
    }
    var result: [[UInt8]: Double] = [:]
    switch operation {
    case .union:
        for (position, input) in inputs.enumerated() {
            for entry in input ?? [] {
                let score = weighted(entry.score, weights[position])
                if let existing = result[entry.member] {
                    result[entry.member] = aggregate.combine(existing, score)
                } else {
                    result[entry.member] = score
                }
            }
        }
    case .intersection:
        guard !inputs.contains(where: { $0 == nil }) else { return [] }
        let maps = inputs.map { input in Dictionary(input!.map { ($0.member, $0.score) }, uniquingKeysWith: { a, _ in a }) }
        for entry in inputs[0]! {
            var score = weighted(entry.score, weights[0])
            var everywhere = true
            for position in 1..<max(1, maps.count) where position < maps.count {
                guard let other = maps[position][entry.member] else {
                    everywhere = false
                    break
                }
                score = aggregate.combine(score, weighted(other, weights[position]))
            }
            if everywhere { result[entry.member] = score }
        }
    case .difference:
        guard let first = inputs.first ?? nil else { return [] }
        let others = inputs.dropFirst().compactMap { $0 }.map { Set($0.map(\.member)) }
        for entry in first where !others.contains(where: { $0.contains(entry.member) }) {
            result[entry.member] = entry.score
        }
    }
    return result.map { ($0.key, $0.value) }.sorted { a, b in
        a.member.withUnsafeBytes { x in b.member.withUnsafeBytes { y in zsetPrecedes(a.score, x, b.score, y) } }
    }
}

/// ZUNION, ZINTER, ZDIFF and their STORE forms (Redis's zunionInterDiffGenericCommand), from the `numkeys`
/// argument at `numkeysIndex`.
private func zsetOperation(
    _ ctx: CommandContext, _ operation: ZSetOperation, numkeysIndex: Int, store: Bool
) throws(CommandError) {
    let args = ctx.args
    let name = args.lowercased(0)
    let numkeys = try args.integer(numkeysIndex)
    guard numkeys >= 1 else { throw .atLeastOneKey(name) }
    guard numkeys <= Int64(args.count - numkeysIndex - 1) else { throw .syntax }
    let keysEnd = numkeysIndex + 1 + Int(numkeys)
    let keys = ((numkeysIndex + 1)..<keysEnd).map { args.key($0) }
    let destination = store ? args.key(1) : nil
    let limits = ctx.limits
    let hashes = keys.map(\.hash) + (destination.map { [$0.hash] } ?? [])
    var withScores = false
    let entries = try ctx.store.withKeys(database: ctx.database, hashes: hashes, exclusive: store) {
        group throws(CommandError) -> [(member: [UInt8], score: Double)] in
        // Redis reads (and type-checks) the inputs before it parses WEIGHTS and AGGREGATE.
        let inputs = try readScoredInputs(ctx, group: group, keys: keys)
        var weights = [Double](repeating: 1, count: Int(numkeys))
        var aggregate = Aggregate.sum
        var index = keysEnd
        while index < args.count {
            let left = args.count - index - 1
            if operation != .difference && args.matches(index, "WEIGHTS") && left >= Int(numkeys) {
                for position in 0..<Int(numkeys) {
                    guard let weight = parseScore(args[index + 1 + position]) else { throw .weightNotFloat }
                    weights[position] = weight
                }
                index += Int(numkeys)
            } else if operation != .difference && args.matches(index, "AGGREGATE") && left >= 1 {
                if args.matches(index + 1, "SUM") {
                    aggregate = .sum
                } else if args.matches(index + 1, "MIN") {
                    aggregate = .minimum
                } else if args.matches(index + 1, "MAX") {
                    aggregate = .maximum
                } else {
                    throw .syntax
                }
                index += 1
            } else if !store && args.matches(index, "WITHSCORES") {
                withScores = true
            } else {
                throw .syntax
            }
            index += 1
        }
        let combined = combineScored(inputs, operation, weights: weights, aggregate: aggregate)
        if let destination {
            group.store(
                combined.storedSortedSet(limits), at: destination, database: ctx.database, now: ctx.now,
                server: ctx.server, .zset, ctx.args.lowercased(0))
        }
        return combined
    }
    if store {
        ctx.noteDirty()
        ctx.out.integer(entries.count)
        return
    }
    ctx.out.scoredEntries(entries, withScores: withScores, nested: withScores && ctx.out.isResp3)
}

func zunionCommand(_ ctx: CommandContext) throws(CommandError) {
    try zsetOperation(ctx, .union, numkeysIndex: 1, store: false)
}
func zinterCommand(_ ctx: CommandContext) throws(CommandError) {
    try zsetOperation(ctx, .intersection, numkeysIndex: 1, store: false)
}
func zdiffCommand(_ ctx: CommandContext) throws(CommandError) {
    try zsetOperation(ctx, .difference, numkeysIndex: 1, store: false)
}
func zunionstoreCommand(_ ctx: CommandContext) throws(CommandError) {
    try zsetOperation(ctx, .union, numkeysIndex: 2, store: true)
}
func zinterstoreCommand(_ ctx: CommandContext) throws(CommandError) {
    try zsetOperation(ctx, .intersection, numkeysIndex: 2, store: true)
}
func zdiffstoreCommand(_ ctx: CommandContext) throws(CommandError) {
    try zsetOperation(ctx, .difference, numkeysIndex: 2, store: true)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit].
func zintercardCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    // The same numkeys checks as ZINTER (Redis runs both through zunionInterDiffGenericCommand).
    let numkeys = try args.integer(1)
    guard numkeys >= 1 else { throw .atLeastOneKey("zintercard") }
    guard numkeys <= Int64(args.count - 2) else { throw .syntax }
    let end = 2 + Int(numkeys)
    let keys = (2..<end).map { args.key($0) }
    let count = try ctx.store.withKeys(database: ctx.database, hashes: keys.map(\.hash), exclusive: false) {
        group throws(CommandError) -> Int in
        // As ZINTER, the inputs are type-checked before LIMIT is parsed.
        let inputs = try readScoredInputs(ctx, group: group, keys: keys)
        let limit = try ctx.optionalLimit(from: end)
        let combined = combineScored(
            inputs, .intersection, weights: [Double](repeating: 1, count: keys.count), aggregate: .sum)
        return limit > 0 ? min(limit, combined.count) : combined.count
    }
    ctx.out.integer(count)
}

let sortedSetCommands: [Command] = [
    Command(
        "zadd", arity: -4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        since: "1.2.0", complexity: "O(log(N)) for each item added", handler: zaddCommand),
    Command(
        "zincrby", arity: 4, flags: [.write, .denyOOM, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Increments the score of a member in a sorted set.", since: "1.2.0", complexity: "O(log(N))",
        handler: zincrbyCommand),
    Command(
        "zrem", arity: -3, flags: [.write, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
        since: "1.2.0", complexity: "O(M*log(N))", handler: zremCommand),
    Command(
        "zcard", arity: 2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns the number of members in a sorted set.", since: "1.2.0", handler: zcardCommand),
    Command(
        "zscore", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns the score of a member in a sorted set.", since: "1.2.0", handler: zscoreCommand),
    Command(
        "zmscore", arity: -3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns the score of one or more members in a sorted set.", since: "6.2.0", complexity: "O(N)",
        handler: zmscoreCommand),
    Command(
        "zrank", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns the index of a member in a sorted set ordered by ascending scores.", since: "2.0.0",
        complexity: "O(log(N))", handler: zrankCommand),
    Command(
        "zrevrank", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns the index of a member in a sorted set ordered by descending scores.", since: "2.0.0",
        complexity: "O(log(N))", handler: zrevrankCommand),
    Command(
        "zcount", arity: 4, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns the count of members in a sorted set that have scores within a range.", since: "2.0.0",
        complexity: "O(log(N))", handler: zcountCommand),
    Command(
        "zlexcount", arity: 4, flags: [.readonly, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns the number of members in a sorted set within a lexicographical range.", since: "2.8.9",
        complexity: "O(log(N))", handler: zlexcountCommand),
    Command(
        "zrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns members in a sorted set within a range of indexes.", since: "1.2.0",
        complexity: "O(log(N)+M)", handler: zrangeCommand),
    Command(
        "zrangestore", arity: -5, flags: [.write, .denyOOM], keys: (1, 2, 1), group: "sorted_set",
        summary: "Stores a range of members from sorted set in a key.", since: "6.2.0", complexity: "O(log(N)+M)",
        handler: zrangestoreCommand),
    Command(
        "zrevrange", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns members in a sorted set within a range of indexes in reverse order.", since: "1.2.0",
        complexity: "O(log(N)+M)", handler: zrevrangeCommand),
    Command(
        "zrangebyscore", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns members in a sorted set within a range of scores.", since: "1.0.5",
        complexity: "O(log(N)+M)", handler: zrangebyscoreCommand),
    Command(
        "zrevrangebyscore", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns members in a sorted set within a range of scores in reverse order.", since: "2.2.0",
        complexity: "O(log(N)+M)", handler: zrevrangebyscoreCommand),
    Command(
        "zrangebylex", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns members in a sorted set within a lexicographical range.", since: "2.8.9",
        complexity: "O(log(N)+M)", handler: zrangebylexCommand),
    Command(
        "zrevrangebylex", arity: -4, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns members in a sorted set within a lexicographical range in reverse order.", since: "2.8.9",
        complexity: "O(log(N)+M)", handler: zrevrangebylexCommand),
    Command(
        "zremrangebyrank", arity: 4, flags: [.write], keys: (1, 1, 1), group: "sorted_set",
        summary: "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
        since: "2.0.0", complexity: "O(log(N)+M)", handler: zremrangebyrankCommand),
    Command(
        "zremrangebyscore", arity: 4, flags: [.write], keys: (1, 1, 1), group: "sorted_set",
        summary: "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
        since: "1.2.0", complexity: "O(log(N)+M)", handler: zremrangebyscoreCommand),
    Command(
        "zremrangebylex", arity: 4, flags: [.write], keys: (1, 1, 1), group: "sorted_set",
        summary: "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
        since: "2.8.9", complexity: "O(log(N)+M)", handler: zremrangebylexCommand),
    Command(
        "zpopmin", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        since: "5.0.0", complexity: "O(log(N)*M)", handler: zpopminCommand),
    Command(
        "zpopmax", arity: -2, flags: [.write, .fast], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        since: "5.0.0", complexity: "O(log(N)*M)", handler: zpopmaxCommand),
    Command(
        "zmpop", arity: -4, flags: [.write], numkeysAt: 1, group: "sorted_set",
        summary: "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        since: "7.0.0", complexity: "O(K) + O(M*log(N))", handler: zmpopCommand),
    Command(
        "bzpopmin", arity: -3, flags: [.write, .noscript, .fast], keys: (1, -2, 1), group: "sorted_set",
        summary: "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        since: "5.0.0", complexity: "O(log(N))", handler: bzpopminCommand),
    Command(
        "bzpopmax", arity: -3, flags: [.write, .noscript, .fast], keys: (1, -2, 1), group: "sorted_set",
        summary: "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
        since: "5.0.0", complexity: "O(log(N))", handler: bzpopmaxCommand),
    Command(
        "bzmpop", arity: -5, flags: [.write], numkeysAt: 2, group: "sorted_set",
        summary: "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        since: "7.0.0", complexity: "O(K) + O(M*log(N))", handler: bzmpopCommand),
    Command(
        "zrandmember", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
        summary: "Returns one or more random members from a sorted set.", since: "6.2.0", complexity: "O(N)",
        handler: zrandmemberCommand),
    Command(
        "zscan", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "sorted_set",
        summary: "Iterates over members and scores of a sorted set.", since: "2.8.0",
        complexity: "O(1) for every call", handler: zscanCommand),
    Command(
        "zunion", arity: -3, flags: [.readonly], numkeysAt: 1, group: "sorted_set",
        summary: "Returns the union of multiple sorted sets.", since: "6.2.0", complexity: "O(N)+O(M*log(M))",
        handler: zunionCommand),
    Command(
        "zinter", arity: -3, flags: [.readonly], numkeysAt: 1, group: "sorted_set",
        summary: "Returns the intersect of multiple sorted sets.", since: "6.2.0", complexity: "O(N*K)+O(M*log(M))",
        handler: zinterCommand),
    Command(
        "zdiff", arity: -3, flags: [.readonly], numkeysAt: 1, group: "sorted_set",
        summary: "Returns the difference between multiple sorted sets.", since: "6.2.0", complexity: "O(L + (N-K)log(N))",
        handler: zdiffCommand),
    Command(
        "zunionstore", arity: -4, flags: [.write, .denyOOM], keys: (1, 1, 1), numkeysAt: 2, group: "sorted_set",
        summary: "Stores the union of multiple sorted sets in a key.", since: "2.0.0", complexity: "O(N)+O(M log(M))",
        handler: zunionstoreCommand),
    Command(
        "zinterstore", arity: -4, flags: [.write, .denyOOM], keys: (1, 1, 1), numkeysAt: 2, group: "sorted_set",
        summary: "Stores the intersect of multiple sorted sets in a key.", since: "2.0.0",
        complexity: "O(N*K)+O(M*log(M))", handler: zinterstoreCommand),
    Command(
        "zdiffstore", arity: -4, flags: [.write, .denyOOM], keys: (1, 1, 1), numkeysAt: 2, group: "sorted_set",
        summary: "Stores the difference of multiple sorted sets in a key.", since: "6.2.0",
        complexity: "O(L + (N-K)log(N))", handler: zdiffstoreCommand),
    Command(
        "zintercard", arity: -3, flags: [.readonly], numkeysAt: 1, group: "sorted_set",
        summary: "Returns the number of members of the intersect of multiple sorted sets.", since: "7.0.0",
        complexity: "O(N*K)", handler: zintercardCommand),
]
