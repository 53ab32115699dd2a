import RESP
import ShoalStore

// The bitmap commands (Redis's bitops.c) on string values: bit 0 is the most significant bit of byte 0. The
// checks come in Redis 7.0's order, because which error a bad command gets depends on it: GETBIT and SETBIT
// parse the offset before looking the key up; BITCOUNT looks the key up first (a missing key is 0 whatever the
// range says); BITPOS parses the bit, then looks up, then parses the range.

extension CommandError {
    static let bitOffset = CommandError("ERR bit offset is not an integer or out of range")
    static let bitValue = CommandError("ERR bit is not an integer or out of range")
    static let bitArgument = CommandError("ERR The bit argument must be 1 or 0.")
    static let bitopNotSingleKey = CommandError("ERR BITOP NOT must be called with a single source key.")
    static let bitfieldType = CommandError(
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
    static let bitfieldOverflowType = CommandError("ERR Invalid OVERFLOW type specified")
    static let bitfieldReadOnly = CommandError("ERR BITFIELD_RO only supports the GET subcommand")
}

extension CommandContext {
    /// A bit offset argument (Redis's getBitOffsetFromArgument): a non-negative integer addressing a byte
    /// below proto-max-bulk-len. With `width` (BITFIELD), `#n` means the n-th field of that width.
    func bitOffset(at index: Int, width: Int? = nil) throws(CommandError) -> Int64 {
        var text = args[index]
        let counted = width != nil && text.first == UInt8(ascii: "#")
        if counted { text = UnsafeRawBufferPointer(rebasing: text.dropFirst()) }
        guard var offset = parseInt64(text) else { throw .bitOffset }
        if counted, let width {
            let (product, overflow) = offset.multipliedReportingOverflow(by: Int64(width))
            guard !overflow else { throw .bitOffset }
            offset = product
        }
        guard offset >= 0, offset >> 3 < Int64(maxBulkLength) else { throw .bitOffset }
        return offset
    }
}

/// The bit at `offset` (0 beyond the end).
private func bit(_ bytes: UnsafeRawBufferPointer, _ offset: Int64) -> Bool {
    let byte = Int(offset >> 3)
    return byte < bytes.count && bytes[byte] & (0x80 >> UInt8(offset & 7)) != 0
}

extension ShardTable {
    /// The string at `key`, zero-padded to at least `length` bytes (created when absent), handed to `body` to
    /// change in place: SETBIT and BITFIELD's writes (Redis's lookupStringForBitCommand). WRONGTYPE for
    /// another type. `body` learns whether the string was created or grew.
    mutating func modifyBitString<R>(
        _ key: KeyView, length: Int, now: Milliseconds, _ body: (inout [UInt8], _ grew: Bool) -> R
    ) throws(CommandError) -> R {
        guard let index = lookupForWrite(key, now: now) else {
            var bytes = [UInt8](repeating: 0, count: length)
            let result = body(&bytes, true)
            bytes.withUnsafeBytes { insert(key, string: $0, now: now) }
            return result
        }
        guard isString(at: index) else { throw .wrongType }
        var result: R?
        _ = modifyString(at: index) { bytes in
            let grew = bytes.count < length
            if grew { bytes.append(contentsOf: repeatElement(0, count: length - bytes.count)) }
            result = body(&bytes, grew)
        }
        return result!
    }
}

func setbitCommand(_ ctx: CommandContext) throws(CommandError) {
    let offset = try ctx.bitOffset(at: 2)
    guard let on = parseInt64(ctx.args[3]) else { throw .bitValue }
    guard on == 0 || on == 1 else { throw .bitValue }
    let key = ctx.args.key(1)
    let byte = Int(offset >> 3)
    let mask = UInt8(0x80) >> UInt8(offset & 7)
    let (old, changed) = try ctx.store.write(ctx.database, key) { table throws(CommandError) -> (Bool, Bool) in
        try table.modifyBitString(key, length: byte + 1, now: ctx.now) { bytes, grew in
            let old = bytes[byte] & mask != 0
            if on == 1 { bytes[byte] |= mask } else { bytes[byte] &= ~mask }
            return (old, grew || old != (on == 1))
        }
    }
    if changed {
        ctx.noteDirty()
        ctx.notify(.string, "setbit", keyAt: 1)
    }
    ctx.out.integer(old ? 1 : 0)
}

func getbitCommand(_ ctx: CommandContext) throws(CommandError) {
    let offset = try ctx.bitOffset(at: 2)
    let set = try ctx.readString(key: 1) { bytes in bytes.map { bit($0, offset) } ?? false }
    ctx.out.integer(set ? 1 : 0)
}

extension CommandContext {
    /// Reads the string at argument `keyIndex` under its shard's read lock: `body` gets nil when the key is
    /// absent; WRONGTYPE for another type. Counts a keyspace hit or miss.
    func readString<R>(key keyIndex: Int, _ body: (UnsafeRawBufferPointer?) throws(CommandError) -> R)
        throws(CommandError) -> R
    {
        let key = args.key(keyIndex)
        return try store.read(database, key) { table throws(CommandError) -> R in
            guard let index = table.lookup(key, now: now) else {
                noteLookup(hit: false)
                notify(.keyMiss, "keymiss", key)
                return try body(nil)
            }
            noteLookup(hit: true)
            return try table.withString(at: index) { bytes throws(CommandError) in try body(bytes) }
        }
    }
}

/// A BITCOUNT/BITPOS range already clamped to the string: whole bytes `start...end`, and for a BIT range the
/// masks of the edge bits outside it (Redis's first/last_byte_neg_mask). Empty when start > end.
private struct BitRange {
    var start: Int64
    var end: Int64
    var firstOutside: UInt8 = 0
    var lastOutside: UInt8 = 0

    /// Redis's conversion: negative indexes count from the end, then clamp; a BIT range becomes bytes plus
    /// edge masks.
    init(start: Int64, end: Int64, length: Int64, bits: Bool) {
        let total = bits ? length << 3 : length
        var start = start < 0 ? total + start : start
        var end = end < 0 ? total + end : end
        start = max(start, 0)
        end = min(max(end, 0), total - 1)
        if bits && start <= end {
            firstOutside = ~UInt8(truncatingIfNeeded: (1 << (8 - (start & 7))) - 1)
            lastOutside = UInt8(truncatingIfNeeded: (1 << (7 - (end & 7))) - 1)
            start >>= 3
            end >>= 3
        }
        self.start = start
        self.end = end
    }
}

/// BYTE or BIT at `index` (absent: BYTE).
private func rangeUnitIsBit(_ args: Arguments, _ index: Int) throws(CommandError) -> Bool {
    guard index < args.count else { return false }
    if args.matches(index, "BIT") { return true }
    if args.matches(index, "BYTE") { return false }
    throw .syntax
}

private func popcount(_ bytes: UnsafeRawBufferPointer) -> Int {
    var count = 0
    var offset = 0
    while offset + 8 <= bytes.count {
        count += bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self).nonzeroBitCount
        offset += 8
    }
    while offset < bytes.count {
        count += bytes[offset].nonzeroBitCount
        offset += 1
    }
    return count
}

func bitcountCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    let count = try ctx.readString(key: 1) { bytes throws(CommandError) -> Int in
        guard let bytes else { return 0 }
        let length = Int64(bytes.count)
        let range: BitRange
        switch args.count {
        case 2:
            range = BitRange(start: 0, end: length - 1, length: length, bits: false)
        case 4, 5:
            let start = try args.integer(2)
            let end = try args.integer(3)
            if start < 0 && end < 0 && start > end { return 0 }  // before BYTE|BIT is checked, as 7.0
            let bits = try rangeUnitIsBit(args, 4)
            range = BitRange(start: start, end: end, length: length, bits: bits)
        default:
            throw .syntax
        }
        guard range.start <= range.end else { return 0 }
        let first = Int(range.start)
        let last = Int(range.end)
        return popcount(UnsafeRawBufferPointer(rebasing: bytes[first...last]))
            - (bytes[first] & range.firstOutside).nonzeroBitCount - (bytes[last] & range.lastOutside).nonzeroBitCount
    }
    ctx.out.integer(count)
}

/// The position of the first `target` bit in `bytes` (Redis's redisBitpos): -1 when looking for a 1 and there
/// is none; the bit just past the end when looking for a 0 in all ones.
private func firstBit(_ target: Bool, in bytes: UnsafeRawBufferPointer) -> Int64 {
    let skip: UInt8 = target ? 0 : 0xFF
    for (position, byte) in bytes.enumerated() where byte != skip {
        let bits = target ? byte : ~byte
        return Int64(position) * 8 + Int64(bits.leadingZeroBitCount)
    }
    return target ? -1 : Int64(bytes.count) * 8
}

func bitposCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    guard let wanted = parseInt64(args[2]) else { throw .notInteger }
    guard wanted == 0 || wanted == 1 else { throw .bitArgument }
    let target = wanted == 1
    let position = try ctx.readString(key: 1) { bytes throws(CommandError) -> Int64 in
        guard let bytes else { return target ? -1 : 0 }
        let length = Int64(bytes.count)
        var range: BitRange
        var endGiven = false
        switch args.count {
        case 3:
            range = BitRange(start: 0, end: length - 1, length: length, bits: false)
        case 4, 5, 6:
            let start = try args.integer(3)
            let bits = try rangeUnitIsBit(args, 5)
            var end = bits ? (length << 3) + 7 : length - 1
            if args.count >= 5 {
                end = try args.integer(4)
                endGiven = true
            }
            range = BitRange(start: start, end: end, length: length, bits: bits)
        default:
            throw .syntax
        }
        guard range.start <= range.end else { return -1 }
        // The edge bytes with the bits outside the range set to what is not looked for.
        var view = Array(bytes[Int(range.start)...Int(range.end)])
        let last = view.count - 1
        if target {
            view[0] &= ~range.firstOutside
            view[last] &= ~range.lastOutside
        } else {
            view[0] |= range.firstOutside
            view[last] |= range.lastOutside
        }
        let found = view.withUnsafeBytes { firstBit(target, in: $0) }
        // Looking for a 0 in an explicit range: the padding past its end doesn't count.
        if endGiven && !target && found == Int64(view.count) * 8 { return -1 }
        return found == -1 ? -1 : found + range.start * 8
    }
    ctx.out.integer(position)
}

func bitopCommand(_ ctx: CommandContext) throws(CommandError) {
    enum Operation { case and, or, xor, not }
    let args = ctx.args
    let operation: Operation
    if args.matches(1, "AND") {
        operation = .and
    } else if args.matches(1, "OR") {
        operation = .or
    } else if args.matches(1, "XOR") {
        operation = .xor
    } else if args.matches(1, "NOT") {
        operation = .not
    } else {
        throw .syntax
    }
    if operation == .not && args.count != 4 { throw .bitopNotSingleKey }
    let destination = args.key(2)
    let sources = (3..<args.count).map { args.key($0) }
    let length = try ctx.store.withKeys(
        database: ctx.database, hashes: [destination.hash] + sources.map(\.hash), exclusive: true
    ) { group throws(CommandError) -> Int in
        var inputs: [[UInt8]] = []
        for key in sources {
            let bytes = try group.readTable(database: ctx.database, hash: key.hash) {
                table throws(CommandError) -> [UInt8] in
                guard let index = table.lookup(key, now: ctx.now) else { return [] }
                return try table.withString(at: index) { Array($0) }
            }
            inputs.append(bytes)
        }
        let length = inputs.map(\.count).max() ?? 0
        var result = [UInt8](repeating: 0, count: length)
        for position in 0..<length {
            func byte(_ input: [UInt8]) -> UInt8 { position < input.count ? input[position] : 0 }
            var output = byte(inputs[0])
            for input in inputs.dropFirst() {
                switch operation {
                case .and: output &= byte(input)
                case .or: output |= byte(input)
                case .xor: output ^= byte(input)
                case .not: break
                }
            }
            result[position] = operation == .not ? ~output : output
        }
        group.store(
            length > 0 ? .string(result) : nil, at: destination, database: ctx.database, now: ctx.now,
            server: ctx.server, .string, "set")
        return length
    }
    ctx.noteDirty()
    ctx.out.integer(length)
}

// MARK: - BITFIELD

/// One BITFIELD operation, parsed before anything runs (a bad argument anywhere fails the whole command).
private struct BitfieldOperation {
    enum Kind { case get, set, incrby }
    enum Overflow { case wrap, sat, fail }
    var kind: Kind
    var signed: Bool
    var width: Int
    var offset: Int64
    var amount: Int64
    var overflow: Overflow
}

/// `i<1..64>` or `u<1..63>`.
private func bitfieldType(_ text: UnsafeRawBufferPointer) throws(CommandError) -> (signed: Bool, width: Int) {
    guard let first = text.first, first == UInt8(ascii: "i") || first == UInt8(ascii: "u"),
        let width = parseInt64(UnsafeRawBufferPointer(rebasing: text.dropFirst()))
    else { throw .bitfieldType }
    let signed = first == UInt8(ascii: "i")
    guard width >= 1, width <= (signed ? 64 : 63) else { throw .bitfieldType }
    return (signed, Int(width))
}

private func parseBitfield(_ ctx: CommandContext) throws(CommandError) -> [BitfieldOperation] {
    let args = ctx.args
    var operations: [BitfieldOperation] = []
    var overflow = BitfieldOperation.Overflow.wrap
    var index = 2
    while index < args.count {
        let remaining = args.count - index - 1
        let kind: BitfieldOperation.Kind
        if args.matches(index, "GET") && remaining >= 2 {
            kind = .get
        } else if args.matches(index, "SET") && remaining >= 3 {
            kind = .set
        } else if args.matches(index, "INCRBY") && remaining >= 3 {
            kind = .incrby
        } else if args.matches(index, "OVERFLOW") && remaining >= 1 {
            if args.matches(index + 1, "WRAP") {
                overflow = .wrap
            } else if args.matches(index + 1, "SAT") {
                overflow = .sat
            } else if args.matches(index + 1, "FAIL") {
                overflow = .fail
            } else {
                throw .bitfieldOverflowType
            }
            index += 2
            continue
        } else {
            throw .syntax
        }
        let (signed, width) = try bitfieldType(args[index + 1])
        let offset = try ctx.bitOffset(at: index + 2, width: width)
        let amount = kind == .get ? 0 : try args.integer(index + 3)
        operations.append(
            BitfieldOperation(
                kind: kind, signed: signed, width: width, offset: offset, amount: amount, overflow: overflow))
        index += kind == .get ? 3 : 4
    }
    return operations
}

/// `width` bits from `offset`, most significant first; bits past the end read as 0.
private func readField(_ bytes: UnsafeRawBufferPointer, offset: Int64, width: Int) -> UInt64 {
    var value: UInt64 = 0
    for position in offset..<(offset + Int64(width)) {
        value = value << 1 | (bit(bytes, position) ? 1 : 0)
    }
    return value
}

private func writeField(_ bytes: inout [UInt8], offset: Int64, width: Int, value: UInt64) {
    for step in 0..<width {
        let position = offset + Int64(step)
        let mask = UInt8(0x80) >> UInt8(position & 7)
        if value >> UInt64(width - 1 - step) & 1 == 1 {
            bytes[Int(position >> 3)] |= mask
        } else {
            bytes[Int(position >> 3)] &= ~mask
        }
    }
}

/// `value + increment` in an unsigned field of `width` bits (Redis's checkUnsignedBitfieldOverflow): the
/// result, or nil when it overflows under FAIL.
private func unsignedField(_ value: UInt64, plus increment: Int64, width: Int, _ overflow: BitfieldOperation.Overflow)
    -> UInt64?
{
    let maximum: UInt64 = (1 << UInt64(width)) - 1
    let maxIncrement = Int64(bitPattern: maximum &- value)
    let minIncrement = Int64(bitPattern: 0 &- value)
    let high = value > maximum || (increment > 0 && increment > maxIncrement)
    let low = !high && increment < 0 && increment < minIncrement
    guard high || low else { return value &+ UInt64(bitPattern: increment) }
    switch overflow {
    case .wrap: return (value &+ UInt64(bitPattern: increment)) & maximum
    case .sat: return high ? maximum : 0
    case .fail: return nil
    }
}

/// The signed counterpart (Redis's checkSignedBitfieldOverflow).
private func signedField(_ value: Int64, plus increment: Int64, width: Int, _ overflow: BitfieldOperation.Overflow)
    -> Int64?
{
    let maximum: Int64 = width == 64 ? .max : (1 << Int64(width - 1)) - 1
    let minimum = -maximum - 1
    let maxIncrement = Int64(bitPattern: UInt64(bitPattern: maximum) &- UInt64(bitPattern: value))
    let minIncrement = minimum &- value
    let high =
        value > maximum || (width != 64 && increment > maxIncrement)
        || (value >= 0 && increment > 0 && increment > maxIncrement)
    let low =
        !high
        && (value < minimum || (width != 64 && increment < minIncrement)
            || (value < 0 && increment < 0 && increment < minIncrement))
    guard high || low else { return value &+ increment }
    switch overflow {
    case .wrap:
        var sum = UInt64(bitPattern: value) &+ UInt64(bitPattern: increment)
        if width < 64 {
            let mask = UInt64.max << UInt64(width)
            if sum & (1 << UInt64(width - 1)) != 0 { sum |= mask } else { sum &= ~mask }
        }
        return Int64(bitPattern: sum)
    case .sat: return high ? maximum : minimum
    case .fail: return nil
    }
}

/// Runs a SET or INCRBY on `bytes`; the reply's value (nil: FAIL overflow, nothing written) and whether the
/// field changed.
private func applyWrite(_ operation: BitfieldOperation, to bytes: inout [UInt8]) -> (reply: Int64?, changed: Bool) {
    let raw = bytes.withUnsafeBytes { readField($0, offset: operation.offset, width: operation.width) }
    let stored: UInt64
    let reply: Int64
    if operation.signed {
        let shift = UInt64(64 - operation.width)
        let old = Int64(bitPattern: raw << shift) >> Int64(shift)  // sign-extended
        let isIncrement = operation.kind == .incrby
        guard
            let new = signedField(
                isIncrement ? old : operation.amount, plus: isIncrement ? operation.amount : 0,
                width: operation.width, operation.overflow)
        else { return (nil, false) }
        stored = UInt64(bitPattern: new)
        reply = isIncrement ? new : old
    } else {
        let isIncrement = operation.kind == .incrby
        guard
            let new = unsignedField(
                isIncrement ? raw : UInt64(bitPattern: operation.amount), plus: isIncrement ? operation.amount : 0,
                width: operation.width, operation.overflow)
        else { return (nil, false) }
        stored = new
        reply = Int64(bitPattern: isIncrement ? new : raw)
    }
    let mask: UInt64 = operation.width == 64 ? .max : (1 << UInt64(operation.width)) - 1
    writeField(&bytes, offset: operation.offset, width: operation.width, value: stored & mask)
    return (reply, stored & mask != raw)
}

private func replyGet(_ operation: BitfieldOperation, _ bytes: UnsafeRawBufferPointer?, _ out: inout ReplyBuffer) {
    let raw = bytes.map { readField($0, offset: operation.offset, width: operation.width) } ?? 0
    if operation.signed {
        let shift = UInt64(64 - operation.width)
        out.integer(Int64(bitPattern: raw << shift) >> Int64(shift))
    } else {
        out.integer(Int64(bitPattern: raw))
    }
}

private func bitfieldGeneric(_ ctx: CommandContext, readOnly: Bool) throws(CommandError) {
    let operations = try parseBitfield(ctx)
    let writes = operations.filter { $0.kind != .get }
    guard !writes.isEmpty else {
        try ctx.readString(key: 1) { bytes in
            ctx.out.arrayHeader(operations.count)
            for operation in operations { replyGet(operation, bytes, &ctx.out) }
        }
        return
    }
    if readOnly { throw .bitfieldReadOnly }
    let highest = writes.map { $0.offset + Int64($0.width) - 1 }.max()!
    let key = ctx.args.key(1)
    let changes = try ctx.store.write(ctx.database, key) { table throws(CommandError) -> Int in
        try table.modifyBitString(key, length: Int(highest >> 3) + 1, now: ctx.now) { bytes, grew in
            var changes = 0
            ctx.out.arrayHeader(operations.count)
            for operation in operations {
                guard operation.kind != .get else {
                    bytes.withUnsafeBytes { replyGet(operation, $0, &ctx.out) }
                    continue
                }
                let (reply, changed) = applyWrite(operation, to: &bytes)
                if let reply {
                    ctx.out.integer(reply)
                    if grew || changed { changes += 1 }
                } else {
                    ctx.out.null()
                }
            }
            return changes
        }
    }
    if changes > 0 {
        ctx.noteDirty(changes)
        ctx.notify(.string, "setbit", keyAt: 1)
    }
}

func bitfieldCommand(_ ctx: CommandContext) throws(CommandError) { try bitfieldGeneric(ctx, readOnly: false) }

func bitfieldRoCommand(_ ctx: CommandContext) throws(CommandError) { try bitfieldGeneric(ctx, readOnly: true) }

let bitmapCommands: [Command] = [
    Command(
        "setbit", arity: 4, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "bitmap",
        summary: "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
        since: "2.2.0", handler: setbitCommand),
    Command(
        "getbit", arity: 3, flags: [.readonly, .fast], keys: (1, 1, 1), group: "bitmap",
        summary: "Returns a bit value by offset.", since: "2.2.0", handler: getbitCommand),
    Command(
        "bitcount", arity: -2, flags: [.readonly], keys: (1, 1, 1), group: "bitmap",
        summary: "Counts the number of set bits (population counting) in a string.", since: "2.6.0",
        complexity: "O(N)", handler: bitcountCommand),
    Command(
        "bitpos", arity: -3, flags: [.readonly], keys: (1, 1, 1), group: "bitmap",
        summary: "Finds the first set (1) or clear (0) bit in a string.", since: "2.8.7", complexity: "O(N)",
        handler: bitposCommand),
    Command(
        "bitop", arity: -4, flags: [.write, .denyOOM], keys: (2, -1, 1), group: "bitmap",
        summary: "Performs bitwise operations on multiple strings, and stores the result.", since: "2.6.0",
        complexity: "O(N)", handler: bitopCommand),
    Command(
        "bitfield", arity: -2, flags: [.write, .denyOOM], keys: (1, 1, 1), group: "bitmap",
        summary: "Performs arbitrary bitfield integer operations on strings.", since: "3.2.0",
        complexity: "O(1) for each subcommand specified", handler: bitfieldCommand),
    Command(
        "bitfield_ro", arity: -2, flags: [.readonly, .fast], keys: (1, 1, 1), group: "bitmap",
        summary: "Performs arbitrary read-only bitfield integer operations on strings.", since: "6.0.0",
        complexity: "O(1) for each subcommand specified", handler: bitfieldRoCommand),
]
