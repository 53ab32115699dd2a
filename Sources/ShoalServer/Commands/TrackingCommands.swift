import RESP
import ShoalStore

// CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR, CLIENT TRACKINGINFO: Redis 7.0's options, checks (in its
// order) and error texts.

func clientTrackingCommand(_ ctx: CommandContext) throws(CommandError) {
    let args = ctx.args
    var options = TrackingOptions()
    var redirectGiven = false
    var index = 3
    while index < args.count {
        let more = index + 1 < args.count
        if args.matches(index, "redirect") && more {
            index += 1
            if redirectGiven { throw CommandError("ERR A client can only redirect to a single other client") }
            let id = try args.integer(index)
            guard ctx.server.clients.handle(Int(id)) != nil else {
                throw CommandError("ERR The client ID you want redirect to does not exist")
            }
            options.redirect = Int(id)
            redirectGiven = true
        } else if args.matches(index, "bcast") {
            options.bcast = true
        } else if args.matches(index, "optin") {
            options.optin = true
        } else if args.matches(index, "optout") {
            options.optout = true
        } else if args.matches(index, "noloop") {
            options.noloop = true
        } else if args.matches(index, "prefix") && more {
            index += 1
            options.prefixes.append(args.bytes(index))
        } else {
            throw .syntax
        }
        index += 1
    }
    if args.matches(2, "on") {
        if !options.bcast && !options.prefixes.isEmpty {
            throw CommandError("ERR PREFIX option requires BCAST mode to be enabled")
        }
        let current = ctx.client.tracking?.options
        if let current, current.bcast != options.bcast {
            throw CommandError(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."
            )
        }
        if options.bcast && (options.optin || options.optout) {
            throw CommandError("ERR OPTIN and OPTOUT are not compatible with BCAST")
        }
        if options.optin && options.optout { throw CommandError("ERR You can't specify both OPTIN mode and OPTOUT mode") }
        if let current, (options.optin && current.optout) || (options.optout && current.optin) {
            throw CommandError(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."
            )
        }
        if options.bcast { try checkPrefixCollisions(options.prefixes, existing: current?.prefixes ?? []) }
        ctx.server.enableTracking(ctx.client, options)
    } else if args.matches(2, "off") {
        ctx.server.disableTracking(ctx.client)
    } else {
        throw .syntax
    }
    ctx.out.ok()
}

/// Redis's checkPrefixCollisionsOrReply: no prefix of one client may be a prefix of another of its prefixes (the
/// same prefix given again included).
private func checkPrefixCollisions(_ prefixes: [[UInt8]], existing: [[UInt8]]) throws(CommandError) {
    func overlap(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.starts(with: b) || b.starts(with: a) }
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
    for (position, prefix) in prefixes.enumerated() {
        if let clash = existing.first(where: { overlap($0, prefix) }) {
            throw CommandError(
                "ERR Prefix '\(text(prefix))' overlaps with an existing prefix '\(text(clash))'. Prefixes for a single client must not overlap."
            )
        }
        for other in prefixes[(position + 1)...] where overlap(prefix, other) {
            throw CommandError(
                "ERR Prefix '\(text(prefix))' overlaps with another provided prefix '\(text(other))'. Prefixes for a single client must not overlap."
            )
        }
    }
}

func clientCachingCommand(_ ctx: CommandContext) throws(CommandError) {
    guard let tracking = ctx.client.tracking else {
        throw CommandError(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
        )
    }
    if ctx.args.matches(2, "yes") {
        guard tracking.options.optin else {
            throw CommandError("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
        }
    } else if ctx.args.matches(2, "no") {
        guard tracking.options.optout else {
            throw CommandError("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
        }
    } else {
        throw .syntax
    }
    ctx.client.tracking?.caching = true
    ctx.out.ok()
}

func clientGetredirCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.integer(ctx.client.tracking?.options.redirect ?? -1)
}

func clientTrackinginfoCommand(_ ctx: CommandContext) throws(CommandError) {
    let tracking = ctx.client.tracking
    var flags = [tracking == nil ? "off" : "on"]
    if let tracking {
        if tracking.options.bcast { flags.append("bcast") }
        if tracking.options.optin {
            flags.append("optin")
            if tracking.caching { flags.append("caching-yes") }
        }
        if tracking.options.optout {
            flags.append("optout")
            if tracking.caching { flags.append("caching-no") }
        }
        if tracking.options.noloop { flags.append("noloop") }
        if tracking.brokenRedirect { flags.append("broken_redirect") }
    }
    ctx.out.mapHeader(3)
    ctx.out.bulk("flags")
    ctx.out.setHeader(flags.count)
    for flag in flags { ctx.out.bulk(flag) }
    ctx.out.bulk("redirect")
    ctx.out.integer(tracking?.options.redirect ?? -1)
    ctx.out.bulk("prefixes")
    let prefixes = (tracking?.options.prefixes ?? []).sorted { $0.lexicographicallyPrecedes($1) }
    ctx.out.bulkArray(prefixes)
}

let trackingSubcommands: [Command] = [
    Command(
        "tracking", arity: -3, flags: [.noscript, .loading, .stale], group: "connection",
        summary: "Controls server-assisted client-side caching for the connection.", since: "6.0.0",
        complexity: "O(1). Some options may introduce additional complexity.", handler: clientTrackingCommand),
    Command(
        "caching", arity: 3, flags: [.noscript, .loading, .stale], group: "connection",
        summary: "Instructs the server whether to track the keys in the next request.", since: "6.0.0",
        handler: clientCachingCommand),
    Command(
        "getredir", arity: 2, flags: [.noscript, .loading, .stale], group: "connection",
        summary: "Returns the client ID to which the connection's tracking notifications are redirected.",
        since: "6.0.0", handler: clientGetredirCommand),
    Command(
        "trackinginfo", arity: 2, flags: [.noscript, .loading, .stale], group: "connection",
        summary: "Returns information about server-assisted client-side caching for the connection.",
        since: "6.2.0", handler: clientTrackinginfoCommand),
]
