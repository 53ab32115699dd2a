import CShoalPosix
import RESP
import ShoalPosix
import Synchronization

// Pub/sub across event loops.
//
// A subscription lives in two places: the client's own `Subscriptions` (owned by its loop: what it is
// subscribed to, for the replies' counts and UNSUBSCRIBE without arguments) and the `PubSubRegistry` (shared:
// who listens to what, for PUBLISH on any loop). PUBLISH looks the receivers up under the registry's mutex,
// groups them by loop and posts one `Mail.publish` per loop; each loop formats the message for each of its
// clients (RESP2 array or RESP3 push, whichever the client speaks when it arrives) and appends it to the
// client's replies. No thread writes to another loop's connections, and one publisher's messages reach each
// subscriber in the order they were published: they go through the same FIFO mailbox, posted by one thread.

/// What one loop's client subscribed to. Insertion-ordered, so UNSUBSCRIBE without arguments answers in
/// subscription order.
struct Subscriptions {
    var channels = OrderedBytesSet()
    var patterns = OrderedBytesSet()
    var shardChannels = OrderedBytesSet()

    /// Redis's reply count for (P)SUBSCRIBE / (P)UNSUBSCRIBE: channels plus patterns.
    var count: Int { channels.count + patterns.count }

    /// The names of one kind.
    subscript(_ kind: SubscriptionKind) -> OrderedBytesSet {
        get {
            switch kind {
            case .channel: return channels
            case .pattern: return patterns
            case .shard: return shardChannels
            }
        }
        // In place: a get-then-set would copy the set being changed.
        _modify {
            switch kind {
            case .channel: yield &channels
            case .pattern: yield &patterns
            case .shard: yield &shardChannels
            }
        }
    }

    /// The count a confirmation of `kind` reports: shard channels apart, channels and patterns together.
    func confirmationCount(_ kind: SubscriptionKind) -> Int { kind == .shard ? shardChannels.count : count }
    var isEmpty: Bool { channels.count == 0 && patterns.count == 0 && shardChannels.count == 0 }
}

/// A small insertion-ordered set of byte strings.
struct OrderedBytesSet {
    private(set) var items: [[UInt8]] = []
    private var members: Set<[UInt8]> = []

    var count: Int { items.count }
    func contains(_ item: [UInt8]) -> Bool { members.contains(item) }

    /// Adds `item`; false when it was there already.
    mutating func insert(_ item: [UInt8]) -> Bool {
        guard members.insert(item).inserted else { return false }
        items.append(item)
        return true
    }

    /// Removes `item`; false when it was not there.
    mutating func remove(_ item: [UInt8]) -> Bool {
        guard members.remove(item) != nil else { return false }
        items.removeAll { $0 == item }
        return true
    }
}

/// Which of the three namespaces a subscription is in.
enum SubscriptionKind: Sendable {
    case channel, pattern, shard

    /// The confirmation's first element (`subscribe`, `psubscribe`, `ssubscribe`), and the unsubscribe one.
    var subscribeWord: String {
        switch self {
        case .channel: return "subscribe"
        case .pattern: return "psubscribe"
        case .shard: return "ssubscribe"
        }
    }

    var unsubscribeWord: String {
        switch self {
        case .channel: return "unsubscribe"
        case .pattern: return "punsubscribe"
        case .shard: return "sunsubscribe"
        }
    }
}

/// One published message on its way to one loop's subscribers.
struct Publication: Sendable {
    let kind: SubscriptionKind
    let channel: [UInt8]
    let payload: [UInt8]
    /// The receiving clients on that loop; `pattern` set for those reached through PSUBSCRIBE.
    var targets: [(clientID: Int, pattern: [UInt8]?)]

    /// The message as `client` receives it: `message`, `pmessage` or `smessage`, RESP2 array or RESP3 push.
    func write(to out: inout ReplyBuffer, pattern: [UInt8]?) {
        if let pattern {
            out.pushHeader(4)
            out.bulk("pmessage")
            out.bulk(pattern)
        } else {
            out.pushHeader(3)
            out.bulk(kind == .shard ? "smessage" : "message")
        }
        out.bulk(channel)
        out.bulk(payload)
    }
}

/// Who listens to which channel and pattern, for every loop (Redis's pubsub_channels, pubsub_patterns and
/// pubsubshard_channels). One mutex; never held while taking a shard lock, a mailbox's lock is taken inside it
/// never (posting happens after it is released).
final class PubSubRegistry: Sendable {
    struct Subscriber: Sendable, Equatable {
        let clientID: Int
        let loop: Int
    }

    private struct Contents {
        var channels: [[UInt8]: [Subscriber]] = [:]
        var patterns: [[UInt8]: [Subscriber]] = [:]
        /// Patterns in the order they were first subscribed (Redis walks its pattern dict; order is not
        /// observable except in the order pmessages of one publish arrive at one client).
        var patternOrder: [[UInt8]] = []
        var shardChannels: [[UInt8]: [Subscriber]] = [:]
    }

    private let contents = Locked(Contents())
    /// Whether any pattern exists: PUBLISH and keyspace notifications skip the pattern walk otherwise.
    private let patternCount = Atomic<Int>(0)
    /// Whether anyone is subscribed to anything: keyspace notifications cost one load when nobody listens.
    private let subscriptionCount = Atomic<Int>(0)

    var hasSubscribers: Bool { subscriptionCount.load(ordering: .relaxed) > 0 }

    func subscribe(_ name: [UInt8], kind: SubscriptionKind, _ subscriber: Subscriber) {
        contents.withLock { contents in
            switch kind {
            case .channel: contents.channels[name, default: []].append(subscriber)
            case .shard: contents.shardChannels[name, default: []].append(subscriber)
            case .pattern:
                if contents.patterns[name] == nil {
                    contents.patternOrder.append(name)
                    patternCount.add(1, ordering: .relaxed)
                }
                contents.patterns[name, default: []].append(subscriber)
            }
        }
        subscriptionCount.add(1, ordering: .relaxed)
    }

    func unsubscribe(_ name: [UInt8], kind: SubscriptionKind, clientID: Int) {
        contents.withLock { contents in
            func drop(_ table: inout [[UInt8]: [Subscriber]]) -> Bool {
                guard var list = table[name] else { return false }
                list.removeAll { $0.clientID == clientID }
                table[name] = list.isEmpty ? nil : list
                return list.isEmpty
            }
            switch kind {
            case .channel: _ = drop(&contents.channels)
            case .shard: _ = drop(&contents.shardChannels)
            case .pattern:
                if drop(&contents.patterns) {
                    contents.patternOrder.removeAll { $0 == name }
                    patternCount.subtract(1, ordering: .relaxed)
                }
            }
        }
        subscriptionCount.subtract(1, ordering: .relaxed)
    }

    /// The receivers of a message on `channel`, grouped by loop, and how many there are (PUBLISH's reply: a
    /// client subscribed to the channel and to a matching pattern receives it, and counts, twice).
    func receivers(of channel: [UInt8], kind: SubscriptionKind, payload: [UInt8], loops: Int) -> (
        count: Int, byLoop: [Publication?]
    ) {
        contents.withLock { contents in
            var byLoop = [Publication?](repeating: nil, count: loops)
            var count = 0
            func add(_ subscribers: [Subscriber], pattern: [UInt8]?) {
                for subscriber in subscribers {
                    if byLoop[subscriber.loop] == nil {
                        byLoop[subscriber.loop] = Publication(kind: kind, channel: channel, payload: payload, targets: [])
                    }
                    byLoop[subscriber.loop]!.targets.append((subscriber.clientID, pattern))
                    count += 1
                }
            }
            if kind == .shard {
                if let subscribers = contents.shardChannels[channel] { add(subscribers, pattern: nil) }
                return (count, byLoop)
            }
            if let subscribers = contents.channels[channel] { add(subscribers, pattern: nil) }
            if patternCount.load(ordering: .relaxed) > 0 {
                for pattern in contents.patternOrder where globMatch(pattern, channel) {
                    add(contents.patterns[pattern] ?? [], pattern: pattern)
                }
            }
            return (count, byLoop)
        }
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: active channels, optionally matching `pattern`.
    func channels(kind: SubscriptionKind, matching pattern: [UInt8]?) -> [[UInt8]] {
        contents.withLock { contents in
            let table = kind == .shard ? contents.shardChannels : contents.channels
            return table.keys.filter { pattern == nil || globMatch(pattern!, $0) }
        }
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: subscribers of one channel.
    func subscriberCount(_ channel: [UInt8], kind: SubscriptionKind) -> Int {
        contents.withLock { contents in
            (kind == .shard ? contents.shardChannels[channel] : contents.channels[channel])?.count ?? 0
        }
    }

    /// INFO's pubsub_channels, pubsub_patterns, pubsubshard_channels.
    var counts: (channels: Int, patterns: Int, shardChannels: Int) {
        contents.withLock { ($0.channels.count, $0.patterns.count, $0.shardChannels.count) }
    }
}

extension ServerState {
    /// PUBLISH / SPUBLISH (and keyspace notifications): posts `payload` to every subscriber's loop and returns
    /// how many clients receive it.
    @discardableResult
    func publish(_ channel: [UInt8], _ payload: [UInt8], kind: SubscriptionKind = .channel) -> Int {
        let (count, byLoop) = pubsub.receivers(of: channel, kind: kind, payload: payload, loops: mailboxes.count)
        for (loop, publication) in byLoop.enumerated() {
            if let publication { post(.publish(publication), toLoop: loop) }
        }
        return count
    }

    /// Puts `mail` in a loop's mailbox and wakes the loop if the mailbox was empty (a loop drains all of it).
    /// A loop posting to itself needs no wake-up: it drains its mailbox before it next reads or sleeps.
    func post(_ mail: Mail, toLoop loop: Int) {
        if mailboxes[loop].post(mail) && Int(cshoal_current_loop()) != loop { lifecycle.wake(loop: loop) }
    }
}
