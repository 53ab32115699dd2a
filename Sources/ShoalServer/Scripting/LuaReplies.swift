import CLua
import RESP

// Redis's conversions between replies and Lua values (script_lua.c's tables), both directions:
//   reply → Lua (what redis.call returns): integer → number, bulk → string, nil bulk / nil array → false
//   (RESP3 null → nil), status → {ok=...}, error → {err=...}, array → table, and in RESP3 map → {map={...}},
//   set → {set={member=true}}, double → {double=n}, boolean → boolean, big number → {big_number='...'},
//   verbatim → {verbatim_string={format=..., string=...}}.
//   Lua → reply (what a script returns): the reverse, with numbers truncated to integers, true → 1 and
//   false → nil in RESP2, and a table read as an array up to its first nil.

/// How deep a returned table may nest before the reply is refused (a table may contain itself).
private let maximumReplyDepth = 200

extension Lua {
    /// Pushes the reply that starts at `position` in `reply` (bytes our own ReplyBuffer wrote), moving past it.
    func pushReply(_ reply: UnsafeRawBufferPointer, _ position: inout Int) {
        guard position < reply.count, ensureStack(4) else {
            pushNil()
            return
        }
        let kind = reply[position]
        position += 1
        let lineStart = position
        while position + 1 < reply.count && !(reply[position] == 13 && reply[position + 1] == 10) { position += 1 }
        let line = UnsafeRawBufferPointer(rebasing: reply[lineStart..<position])
        position += 2
        let count = Int(parseInt64(line) ?? 0)
        func payload(_ length: Int) -> UnsafeRawBufferPointer {
            let end = min(reply.count, position + length)
            defer { position = end + 2 }
            return UnsafeRawBufferPointer(rebasing: reply[position..<end])
        }
        func wrapped(_ field: String, _ body: () -> Void) {
            newTable(fields: 1)
            body()
            setField(field, in: -2)
        }
        switch kind {
        case UInt8(ascii: "+"): wrapped("ok") { push(line) }
        case UInt8(ascii: "-"): wrapped("err") { push(line) }
        case UInt8(ascii: ":"): push(Double(count))
        case UInt8(ascii: "$"): if count < 0 { push(false) } else { push(payload(count)) }
        case UInt8(ascii: "*"), UInt8(ascii: ">"):
            guard count >= 0 else { return push(false) }
            newTable(array: Int32(clamping: count))
            for index in 0..<count {
                pushReply(reply, &position)
                setIndex(Int32(clamping: index + 1), in: -2)
            }
        case UInt8(ascii: "%"):
            wrapped("map") {
                newTable(fields: Int32(clamping: count))
                for _ in 0..<count {
                    pushReply(reply, &position)
                    pushReply(reply, &position)
                    lua_rawset(state, -3)
                }
            }
        case UInt8(ascii: "~"):
            wrapped("set") {
                newTable(fields: Int32(clamping: count))
                for _ in 0..<count {
                    pushReply(reply, &position)
                    push(true)
                    lua_rawset(state, -3)
                }
            }
        case UInt8(ascii: ","): wrapped("double") { push(Double(String(decoding: line, as: UTF8.self)) ?? .nan) }
        case UInt8(ascii: "#"): push(line.first == UInt8(ascii: "t"))
        case UInt8(ascii: "("): wrapped("big_number") { push(line) }
        case UInt8(ascii: "="):
            let text = payload(count)
            wrapped("verbatim_string") {
                newTable(fields: 2)
                push(UnsafeRawBufferPointer(rebasing: text.prefix(3)))
                setField("format", in: -2)
                push(UnsafeRawBufferPointer(rebasing: text.dropFirst(4)))
                setField("string", in: -2)
            }
        default: pushNil()  // `_`, RESP3's null
        }
    }

    /// Writes the Lua value at `index` (absolute) as the script's reply. Booleans follow the script's protocol
    /// (`redis.setresp`): under RESP3 they are booleans (`:1`/`:0` to a RESP2 client), under RESP2 true is 1
    /// and false is nil.
    func writeReply(at index: Int32, to out: inout ReplyBuffer, scriptResp3: Bool, depth: Int = 0) {
        switch type(at: index) {
        case LUA_TSTRING:
            out.bulk(bytes(at: index)!)
        case LUA_TBOOLEAN:
            let value = boolean(at: index)
            if scriptResp3 { out.boolean(value) } else if value { out.integer(1) } else { out.null() }
        case LUA_TNUMBER:
            out.integer(truncatedInteger(number(at: index)))
        case LUA_TTABLE:
            guard depth < maximumReplyDepth, ensureStack(4) else {
                out.error("ERR reached lua stack limit")
                return
            }
            writeTable(at: index, to: &out, scriptResp3: scriptResp3, depth: depth)
        default:
            out.null()
        }
    }

    private func writeTable(at index: Int32, to out: inout ReplyBuffer, scriptResp3: Bool, depth: Int) {
        // The special one-field tables first, in Redis's order.
        if let text = stringField("err", of: index) {
            out.error(text.replacingNewlines())
            return
        }
        if let text = stringField("ok", of: index) {
            out.simple(text.replacingNewlines())
            return
        }
        getField("double", in: index)
        if type(at: -1) == LUA_TNUMBER {
            let value = number(at: -1)
            // Redis prints a NaN with its sign (0/0 is negative on x86) in RESP2.
            if value.isNaN && !out.isResp3 { out.bulk(value.sign == .minus ? "-nan" : "nan") } else { out.double(value) }
            pop()
            return
        }
        pop()
        if let text = stringField("big_number", of: index) {
            if out.isResp3 { out.bigNumber(text.replacingNewlines()) } else { out.bulk(text.replacingNewlines()) }
            return
        }
        if writeAggregateField("map", of: index, to: &out, scriptResp3: scriptResp3, depth: depth) { return }
        if writeAggregateField("set", of: index, to: &out, scriptResp3: scriptResp3, depth: depth) { return }
        getField("verbatim_string", in: index)
        if type(at: -1) == LUA_TTABLE, let format = stringField("format", of: top), let text = stringField("string", of: top) {
            if out.isResp3 && format.utf8.count == 3 { out.verbatim(text, format: format) } else { out.bulk(text) }
            pop()
            return
        }
        pop()
        var count: Int32 = 0
        while true {
            getIndex(count + 1, in: index)
            defer { pop() }
            if type(at: -1) == LUA_TNIL { break }
            count += 1
        }
        out.arrayHeader(Int(count))
        for position in 0..<count {
            getIndex(position + 1, in: index)
            writeReply(at: top, to: &out, scriptResp3: scriptResp3, depth: depth + 1)
            pop()
        }
    }

    /// `{map = {...}}` or `{set = {...}}`: written and true, or false when the field is not a table.
    private func writeAggregateField(
        _ name: String, of index: Int32, to out: inout ReplyBuffer, scriptResp3: Bool, depth: Int
    ) -> Bool {
        getField(name, in: index)
        defer { pop() }
        let table = top
        guard type(at: table) == LUA_TTABLE else { return false }
        var count = 0
        pushNil()
        while lua_next(state, table) != 0 {
            count += 1
            pop()
        }
        if name == "map" { out.mapHeader(count) } else { out.setHeader(count) }
        pushNil()
        while lua_next(state, table) != 0 {
            writeReply(at: top - 1, to: &out, scriptResp3: scriptResp3, depth: depth + 1)
            if name == "map" { writeReply(at: top, to: &out, scriptResp3: scriptResp3, depth: depth + 1) }
            pop()
        }
        return true
    }

    /// The string in `table[name]` (raw), if it is a string.
    func stringField(_ name: String, of index: Int32) -> String? {
        getField(name, in: index)
        defer { pop() }
        return type(at: -1) == LUA_TSTRING ? string(at: -1) : nil
    }
}

/// A Lua number as Redis replies it: C's cast to long long (x86 gives the minimum for what doesn't fit).
func truncatedInteger(_ value: Double) -> Int64 {
    guard value.isFinite, value >= -9.223_372_036_854_775_808e18, value < 9.223_372_036_854_775_808e18 else {
        return .min
    }
    return Int64(value)
}

extension String {
    /// Replies can't hold line breaks: Redis turns them into spaces.
    func replacingNewlines() -> String {
        guard utf8.contains(where: { $0 == 13 || $0 == 10 }) else { return self }
        return String(decoding: utf8.map { $0 == 13 || $0 == 10 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }
}
