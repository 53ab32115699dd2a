import RESP
import ShoalStore
import Synchronization

/// `notify-keyspace-events` as Redis's flags (notify.c): which classes of events are published, and on which
/// channels (K: `__keyspace@<db>__:<key>`, E: `__keyevent@<db>__:<event>`).
public struct KeyspaceEvents: OptionSet, Sendable, Equatable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let keyspace = KeyspaceEvents(rawValue: 1 << 0)
    public static let keyevent = KeyspaceEvents(rawValue: 1 << 1)
    public static let generic = KeyspaceEvents(rawValue: 1 << 2)
    public static let string = KeyspaceEvents(rawValue: 1 << 3)
    public static let list = KeyspaceEvents(rawValue: 1 << 4)
    public static let set = KeyspaceEvents(rawValue: 1 << 5)
    public static let hash = KeyspaceEvents(rawValue: 1 << 6)
    public static let zset = KeyspaceEvents(rawValue: 1 << 7)
    public static let expired = KeyspaceEvents(rawValue: 1 << 8)
    public static let evicted = KeyspaceEvents(rawValue: 1 << 9)
    public static let stream = KeyspaceEvents(rawValue: 1 << 10)
    public static let keyMiss = KeyspaceEvents(rawValue: 1 << 11)
    public static let module = KeyspaceEvents(rawValue: 1 << 12)
    public static let new = KeyspaceEvents(rawValue: 1 << 13)
    /// `A`: every class but key-miss and new (Redis's NOTIFY_ALL).
    public static let all: KeyspaceEvents = [
        .generic, .string, .list, .set, .hash, .zset, .expired, .evicted, .stream, .module,
    ]

    /// The class characters, in the order Redis prints them (keyspaceEventsFlagsToString).
    private static let classes: [(Character, KeyspaceEvents)] = [
        ("g", .generic), ("$", .string), ("l", .list), ("s", .set), ("h", .hash), ("z", .zset), ("x", .expired),
        ("e", .evicted), ("t", .stream), ("d", .module), ("n", .new),
    ]

    /// Parses a flags string as Redis's keyspaceEventsStringToFlags; nil for an unknown character.
    public init?(_ text: String) {
        var events: KeyspaceEvents = []
        for character in text {
            switch character {
            case "A": events.formUnion(.all)
            case "K": events.insert(.keyspace)
            case "E": events.insert(.keyevent)
            case "m": events.insert(.keyMiss)
            default:
                guard let match = Self.classes.first(where: { $0.0 == character }) else { return nil }
                events.insert(match.1)
            }
        }
        self = events
    }

    public var description: String {
        var text = ""
        if isSuperset(of: .all) {
            text = "A"  // Redis 7.0 prints no `n` after `A`, even when it is on
        } else {
            for (character, flag) in Self.classes where contains(flag) { text.append(character) }
        }
        if contains(.keyspace) { text += "K" }
        if contains(.keyevent) { text += "E" }
        if contains(.keyMiss) { text += "m" }
        return text
    }

    /// Whether anything would ever be published: a class and at least one of K and E.
    var publishesAnything: Bool {
        !intersection([.keyspace, .keyevent]).isEmpty && !subtracting([.keyspace, .keyevent]).isEmpty
    }
}

extension ServerState {
    /// Redis's notifyKeyspaceEvent: publishes `event` about `key` of `database` if its class is enabled.
    /// One atomic load when notifications are off, which is the default.
    @inline(__always)
    func notify(_ type: KeyspaceEvents, _ event: String, _ key: UnsafeRawBufferPointer, database: Int) {
        let enabled = notifyEvents.load(ordering: .relaxed)
        guard enabled & type.rawValue != 0 else { return }
        publishNotification(KeyspaceEvents(rawValue: enabled), event, key, database: database)
    }

    private func publishNotification(
        _ enabled: KeyspaceEvents, _ event: String, _ key: UnsafeRawBufferPointer, database: Int
    ) {
        guard pubsub.hasSubscribers else { return }
        let eventBytes = Array(event.utf8)
        if enabled.contains(.keyspace) {
            let channel = Array("__keyspace@\(database)__:".utf8) + Array(key)
            publish(channel, eventBytes)
        }
        if enabled.contains(.keyevent) {
            let channel = Array("__keyevent@\(database)__:".utf8) + eventBytes
            publish(channel, Array(key))
        }
    }

    /// A collection's event, then `del` when it `emptied` the key (Redis's order), for callers holding its shard.
    func notifyChanged(_ type: KeyspaceEvents, _ event: String, _ key: KeyView, database: Int, emptied: Bool) {
        notify(type, event, key.bytes, database: database)
        if emptied { notify(.generic, "del", key.bytes, database: database) }
    }

    /// Reacts to a change of the configuration's notification flags or tracking (the store reports changes
    /// only while someone needs them).
    func updateChangeFeed() {
        let events = config.current.notifyKeyspaceEvents
        notifyEvents.store(events.publishesAnything ? events.rawValue : 0, ordering: .relaxed)
        let notifiesRemovals = events.publishesAnything && !events.intersection([.expired, .evicted, .new]).isEmpty
        keyspace.changes.setListening(notifiesRemovals || tracking.isActive)
    }

    /// The store's report of a change, under the key's shard lock: invalidate it for tracking clients, and
    /// publish `expired` / `evicted`.
    func keyChanged(_ key: UnsafeRawBufferPointer, database: Int, change: KeyChange) {
        switch change {
        case .created:
            notify(.new, "new", key, database: database)
            return
        case .written: break
        case .expired: notify(.expired, "expired", key, database: database)
        case .evicted: notify(.evicted, "evicted", key, database: database)
        }
        if tracking.isActive { invalidateTracked(key) }
    }
}

extension CommandContext {
    /// Publishes a keyspace event about the key at argument `index` of the client's database.
    @inline(__always)
    func notify(_ type: KeyspaceEvents, _ event: String, keyAt index: Int) {
        server.notify(type, event, args[index], database: database)
    }

    /// Publishes a keyspace event about `key` of the client's database.
    @inline(__always)
    func notify(_ type: KeyspaceEvents, _ event: String, _ key: KeyView) {
        server.notify(type, event, key.bytes, database: database)
    }

    /// A collection command's event, then `del` if that emptied the key (Redis publishes both, in this order).
    @inline(__always)
    func notifyCollection(_ type: KeyspaceEvents, _ event: String, keyAt index: Int) {
        notifyCollection(type, event, args.key(index))
    }

    func notifyCollection(_ type: KeyspaceEvents, _ event: String, _ key: KeyView, database: Int? = nil) {
        let database = database ?? self.database
        let enabled = server.notifyEvents.load(ordering: .relaxed)
        guard enabled & type.rawValue != 0 || enabled & KeyspaceEvents.generic.rawValue != 0 else { return }
        server.notify(type, event, key.bytes, database: database)
        if enabled & KeyspaceEvents.generic.rawValue != 0 && !store.read(database, key, { $0.find(key) != nil }) {
            server.notify(.generic, "del", key.bytes, database: database)
        }
    }
}
