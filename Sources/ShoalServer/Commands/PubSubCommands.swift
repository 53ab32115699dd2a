import RESP
import ShoalStore

// SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs, PUBLISH, SPUBLISH, PUBSUB: Redis 7.0's replies.
// One node: shard channels are a namespace of their own, published to only by SPUBLISH, as Redis without
// cluster mode.

extension ServerState {
    /// Adds `names` to the client's subscriptions of `kind`, replying one confirmation per name.
    func subscribe(_ client: ClientSession, _ names: [[UInt8]], kind: SubscriptionKind) {
        var subscriptions = client.subscriptions ?? Subscriptions()
        let subscriber = PubSubRegistry.Subscriber(clientID: client.id, loop: client.handle.loopIndex)
        for name in names {
            if subscriptions[kind].insert(name) { pubsub.subscribe(name, kind: kind, subscriber) }
            client.out.pushHeader(3)
            client.out.bulk(kind.subscribeWord)
            client.out.bulk(name)
            client.out.integer(subscriptions.confirmationCount(kind))
        }
        client.subscriptions = subscriptions
    }

    /// Removes `names` (every subscription of `kind` when nil) from the client, replying one confirmation per
    /// name; with nothing to remove, one confirmation with a null name, as Redis.
    func unsubscribe(_ client: ClientSession, _ names: [[UInt8]]?, kind: SubscriptionKind, reply: Bool = true) {
        guard var subscriptions = client.subscriptions else {
            if reply { replyUnsubscribed(client, names, kind: kind, remaining: 0) }
            return
        }
        let targets = names ?? subscriptions[kind].items
        var remaining: [Int] = []
        for name in targets {
            if subscriptions[kind].remove(name) { pubsub.unsubscribe(name, kind: kind, clientID: client.id) }
            remaining.append(subscriptions.confirmationCount(kind))
        }
        client.subscriptions = subscriptions.isEmpty ? nil : subscriptions
        guard reply else { return }
        if targets.isEmpty {
            // Nothing of this kind to drop: the count is what is left (none of this kind, when shard channels).
            replyUnsubscribed(client, nil, kind: kind, remaining: subscriptions.confirmationCount(kind))
        }
        for (name, count) in zip(targets, remaining) {
            client.out.pushHeader(3)
            client.out.bulk(kind.unsubscribeWord)
            client.out.bulk(name)
            client.out.integer(count)
        }
    }

    private func replyUnsubscribed(_ client: ClientSession, _ names: [[UInt8]]?, kind: SubscriptionKind, remaining: Int) {
        for name in names ?? [[]] {
            client.out.pushHeader(3)
            client.out.bulk(kind.unsubscribeWord)
            if names == nil { client.out.null() } else { client.out.bulk(name) }
            client.out.integer(remaining)
        }
    }

    /// Drops every subscription (disconnection, RESET), without replies.
    func unsubscribeAll(_ client: ClientSession) {
        guard client.subscriptions != nil else { return }
        for kind in [SubscriptionKind.channel, .pattern, .shard] { unsubscribe(client, nil, kind: kind, reply: false) }
    }
}

extension CommandContext {
    fileprivate func names(from start: Int) -> [[UInt8]] { (start..<args.count).map { args.bytes($0) } }
}

func subscribeCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.server.subscribe(ctx.client, ctx.names(from: 1), kind: .channel)
}

func psubscribeCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.server.subscribe(ctx.client, ctx.names(from: 1), kind: .pattern)
}

func ssubscribeCommand(_ ctx: CommandContext) throws(CommandError) {
    if ctx.client.transaction != nil || ctx.store.isHeld { throw .ssubscribeInMulti }
    ctx.server.subscribe(ctx.client, ctx.names(from: 1), kind: .shard)
}

func unsubscribeCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.server.unsubscribe(ctx.client, ctx.args.count > 1 ? ctx.names(from: 1) : nil, kind: .channel)
}

func punsubscribeCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.server.unsubscribe(ctx.client, ctx.args.count > 1 ? ctx.names(from: 1) : nil, kind: .pattern)
}

func sunsubscribeCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.server.unsubscribe(ctx.client, ctx.args.count > 1 ? ctx.names(from: 1) : nil, kind: .shard)
}

func publishCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.integer(ctx.server.publish(ctx.args.bytes(1), ctx.args.bytes(2)))
}

func spublishCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.integer(ctx.server.publish(ctx.args.bytes(1), ctx.args.bytes(2), kind: .shard))
}

func pubsubChannelsCommand(_ ctx: CommandContext) throws(CommandError) {
    let pattern = ctx.args.count > 2 ? ctx.args.bytes(2) : nil
    ctx.out.bulkArray(ctx.server.pubsub.channels(kind: .channel, matching: pattern))
}

func pubsubShardChannelsCommand(_ ctx: CommandContext) throws(CommandError) {
    let pattern = ctx.args.count > 2 ? ctx.args.bytes(2) : nil
    ctx.out.bulkArray(ctx.server.pubsub.channels(kind: .shard, matching: pattern))
}

func pubsubNumsubCommand(_ ctx: CommandContext) throws(CommandError) {
    try replyNumsub(ctx, kind: .channel)
}

func pubsubShardNumsubCommand(_ ctx: CommandContext) throws(CommandError) {
    try replyNumsub(ctx, kind: .shard)
}

private func replyNumsub(_ ctx: CommandContext, kind: SubscriptionKind) throws(CommandError) {
    ctx.out.arrayHeader(2 * (ctx.args.count - 2))  // a flat array in RESP3 too, as Redis 7.0
    for index in 2..<ctx.args.count {
        let channel = ctx.args.bytes(index)
        ctx.out.bulk(channel)
        ctx.out.integer(ctx.server.pubsub.subscriberCount(channel, kind: kind))
    }
}

func pubsubNumpatCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.integer(ctx.server.pubsub.counts.patterns)
}

func pubsubHelpCommand(_ ctx: CommandContext) throws(CommandError) {
    ctx.out.bulkArray([
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP", "    Print this help.",
    ])
}

// MARK: - The table

/// Commands a RESP2 client may run while subscribed (Redis's processCommand check).
let allowedWhileSubscribed: Set<String> = [
    "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe", "ping", "quit", "reset",
]

let pubsubCommands: [Command] = [
    Command(
        "subscribe", arity: -2, flags: [.pubsub, .noscript, .loading, .stale], group: "pubsub",
        summary: "Listens for messages published to channels.", since: "2.0.0", complexity: "O(N)",
        handler: subscribeCommand),
    Command(
        "unsubscribe", arity: -1, flags: [.pubsub, .noscript, .loading, .stale], group: "pubsub",
        summary: "Stops listening to messages posted to channels.", since: "2.0.0", complexity: "O(N)",
        handler: unsubscribeCommand),
    Command(
        "psubscribe", arity: -2, flags: [.pubsub, .noscript, .loading, .stale], group: "pubsub",
        summary: "Listens for messages published to channels that match one or more patterns.", since: "2.0.0",
        complexity: "O(N)", handler: psubscribeCommand),
    Command(
        "punsubscribe", arity: -1, flags: [.pubsub, .noscript, .loading, .stale], group: "pubsub",
        summary: "Stops listening to messages published to channels that match one or more patterns.",
        since: "2.0.0", complexity: "O(N+M)", handler: punsubscribeCommand),
    Command(
        "ssubscribe", arity: -2, flags: [.pubsub, .noscript, .loading, .stale], group: "pubsub",
        summary: "Listens for messages published to shard channels.", since: "7.0.0", complexity: "O(N)",
        handler: ssubscribeCommand),
    Command(
        "sunsubscribe", arity: -1, flags: [.pubsub, .noscript, .loading, .stale],
        group: "pubsub", summary: "Stops listening to messages posted to shard channels.", since: "7.0.0",
        complexity: "O(N)", handler: sunsubscribeCommand),
    Command(
        "publish", arity: 3, flags: [.pubsub, .loading, .stale, .fast], group: "pubsub",
        summary: "Posts a message to a channel.", since: "2.0.0", complexity: "O(N+M)", handler: publishCommand),
    Command(
        "spublish", arity: 3, flags: [.pubsub, .loading, .stale, .fast], group: "pubsub",
        summary: "Post a message to a shard channel", since: "7.0.0", complexity: "O(N)", handler: spublishCommand),
    Command(
        "pubsub", arity: -2, group: "pubsub", summary: "A container for Pub/Sub commands.", since: "2.8.0",
        subcommands: [
            Command(
                "channels", arity: -2, flags: [.pubsub, .loading, .stale], group: "pubsub",
                summary: "Returns the active channels.", since: "2.8.0", complexity: "O(N)",
                handler: pubsubChannelsCommand),
            Command(
                "numsub", arity: -2, flags: [.pubsub, .loading, .stale], group: "pubsub",
                summary: "Returns a count of subscribers to channels.", since: "2.8.0", complexity: "O(N)",
                handler: pubsubNumsubCommand),
            Command(
                "numpat", arity: 2, flags: [.pubsub, .loading, .stale], group: "pubsub",
                summary: "Returns a count of unique pattern subscriptions.", since: "2.8.0",
                handler: pubsubNumpatCommand),
            Command(
                "shardchannels", arity: -2, flags: [.pubsub, .loading, .stale], group: "pubsub",
                summary: "Returns the active shard channels.", since: "7.0.0", complexity: "O(N)",
                handler: pubsubShardChannelsCommand),
            Command(
                "shardnumsub", arity: -2, flags: [.pubsub, .loading, .stale], group: "pubsub",
                summary: "Returns the count of subscribers of shard channels.", since: "7.0.0", complexity: "O(N)",
                handler: pubsubShardNumsubCommand),
            Command(
                "help", arity: 2, flags: [.loading, .stale], group: "pubsub", summary: "Returns helpful text.",
                since: "6.2.0", handler: pubsubHelpCommand),
        ]),
]
