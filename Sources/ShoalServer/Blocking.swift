import RESP
import ShoalPosix
import ShoalStore
import Synchronization

// Blocking pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP), across event loops.
//
// A client whose keys are all empty is parked on its own loop: it registers, under the locks of its keys'
// shards, as the newest waiter of each key, and a `WatchToken` on each key's shard table reports any change of
// the key (the modification hook of KeyWatchers.swift). Registration and the failed attempt happen under the same
// locks, so no push can fall between them.
//
// A change marks the key ready. Whichever thread ran the command that changed it then serves the key's waiters
// (`serveReadyKeys`, after it released its own locks), oldest first, as Redis's handleClientsBlockedOnKeys does
// after every command: it takes the waiter's keys' locks, claims the waiter (`state`: waiting -> served, one
// compare-and-swap, which a timeout or CLIENT UNBLOCK on the waiter's own loop races for), pops for it, and
// posts the reply bytes to the waiter's loop (`Mailbox` + the loop's eventfd). The loop appends them to the
// client's replies and resumes its input. An element is popped only by the one thread that claimed a waiter,
// under the key's lock, so none is delivered twice or lost between waiters.

/// What a blocked client waits to do, with all it needs to do it from another thread.
struct BlockingRequest: Sendable {
    enum Kind: Sendable {
        /// BLPOP, BRPOP: one element from the first non-empty key, replied as [key, element].
        case pop(ListValue.End)
        /// BLMPOP: up to `count` elements from the first non-empty key, replied as [key, [elements]].
        case multiPop(ListValue.End, count: Int)
        /// BLMOVE, BRPOPLPUSH: keys are [source, destination]; replied as the element.
        case move(from: ListValue.End, to: ListValue.End)
        /// BZPOPMIN, BZPOPMAX: the lowest (highest) member of the first non-empty key, as [key, member, score].
        case zsetPop(max: Bool)
        /// ZMPOP, BZMPOP: up to `count` members, as [key, [[member, score], ...]].
        case zsetMultiPop(max: Bool, count: Int)
    }

    let kind: Kind
    let keys: [Key]

    /// The reply when nothing came: at the timeout always a null array (Redis's replyToBlockedClientTimedOut);
    /// at once (inside MULTI) a null bulk for the moves, as BLMOVE then answers like LMOVE.
    func replyNothing(to out: inout ReplyBuffer, timedOut: Bool) {
        if case .move = kind, !timedOut { out.null() } else { out.nullArray() }
    }

    /// Tries the request under `group` (which holds every key's shard, exclusively). `claim` is called just
    /// before anything changes; when it returns false nothing is changed. Returns whether it replied.
    /// `strictTypes`: a key of another type is WRONGTYPE (the command's own attempt) rather than "nothing here"
    /// (serving a waiter: Redis 7.0 wakes list waiters only for lists).
    func attempt(
        in group: ShardGroup, server: ServerState, database: Int, now: Milliseconds, limits: EncodingLimits,
        strictTypes: Bool, out: inout ReplyBuffer, claim: () -> Bool
    ) throws(CommandError) -> Bool {
        switch kind {
        case .pop, .multiPop:
            for key in keys {
                let popped = try key.withView { view throws(CommandError) -> [[UInt8]]? in
                    try group.withTable(database: database, hash: view.hash) { table throws(CommandError) in
                        guard let index = table.lookupForWrite(view, now: now) else { return nil }
                        guard table.asList(at: index) != nil else {
                            if strictTypes { throw .wrongType }
                            return nil
                        }
                        guard claim() else { return nil }
                        var count = 1
                        var end = ListValue.End.head
                        switch kind {
                        case .pop(let which): end = which
                        case .multiPop(let which, let limit):
                            end = which
                            count = limit
                        case .move, .zsetPop, .zsetMultiPop: break
                        }
                        let popped = try table.modifyCollection(view, now: now, creating: nil) {
                            (list: inout ListValue) in
                            var elements: [[UInt8]] = []
                            while elements.count < count, let element = list.pop(end) { elements.append(element) }
                            return elements
                        }
                        server.notifyChanged(
                            .list, end == .head ? "lpop" : "rpop", view, database: database,
                            emptied: table.find(view) == nil)
                        return popped
                    }
                }
                guard let popped else { continue }
                if case .multiPop = kind {
                    out.arrayHeader(2)
                    out.bulk(key.bytes)
                    out.arrayHeader(popped.count)
                    for element in popped { out.bulk(element) }
                } else {
                    out.arrayHeader(2)
                    out.bulk(key.bytes)
                    out.bulk(popped[0])
                }
                return true
            }
            return false
        case .zsetPop(let max), .zsetMultiPop(let max, _):
            var count = 1
            if case .zsetMultiPop(_, let limit) = kind { count = limit }
            for key in keys {
                let popped = try key.withView { view throws(CommandError) -> [(member: [UInt8], score: Double)]? in
                    try group.withTable(database: database, hash: view.hash) { table throws(CommandError) in
                        guard let index = table.lookupForWrite(view, now: now) else { return nil }
                        guard table.asSortedSet(at: index) != nil else {
                            if strictTypes { throw .wrongType }
                            return nil
                        }
                        guard claim() else { return nil }
                        let popped = try table.modifyCollection(view, now: now, creating: nil) {
                            (zset: inout SortedSetValue) in popEntries(&zset, max: max, count: count)
                        }
                        server.notifyChanged(
                            .zset, max ? "zpopmax" : "zpopmin", view, database: database,
                            emptied: table.find(view) == nil)
                        return popped
                    }
                }
                guard let popped else { continue }
                out.arrayHeader(kind.isMulti ? 2 : 3)
                out.bulk(key.bytes)
                if kind.isMulti {
                    out.arrayHeader(popped.count)
                    for entry in popped { entry.member.withUnsafeBytes { out.scoredMember($0, entry.score, nested: true) } }
                } else {
                    out.bulk(popped[0].member)
                    out.double(popped[0].score)
                }
                return true
            }
            return false
        case .move(let from, let to):
            let element = try moveElement(
                in: group, server: server, database: database, source: keys[0], destination: keys[1], from: from, to: to, now: now,
                limits: limits, strictSource: strictTypes, claim: claim)
            guard let element else { return false }
            out.bulk(element)
            return true
        }
    }
}

extension BlockingRequest.Kind {
    var isMulti: Bool {
        switch self {
        case .multiPop, .zsetMultiPop: return true
        case .pop, .move, .zsetPop: return false
        }
    }
}

/// LMOVE's core, shared with BLMOVE: pops from `source` at `from` and pushes at `to` of `destination`, checking
/// types in Redis's order (source, then destination, before anything changes). Nil when the source is empty.
func moveElement(
    in group: ShardGroup, server: ServerState, database: Int, source: Key, destination: Key, from: ListValue.End, to: ListValue.End,
    now: Milliseconds, limits: EncodingLimits, strictSource: Bool = true, claim: () -> Bool = { true }
) throws(CommandError) -> [UInt8]? {
    try source.withView { sourceView throws(CommandError) -> [UInt8]? in
        try destination.withView { destinationView throws(CommandError) -> [UInt8]? in
            let available = try group.withTable(database: database, hash: sourceView.hash) {
                table throws(CommandError) -> Bool in
                guard let index = table.lookupForWrite(sourceView, now: now) else { return false }
                guard table.asList(at: index) != nil else {
                    if strictSource { throw .wrongType }
                    return false
                }
                return true
            }
            guard available else { return nil }
            try group.withTable(database: database, hash: destinationView.hash) { table throws(CommandError) in
                if let index = table.lookupForWrite(destinationView, now: now), table.asList(at: index) == nil {
                    throw .wrongType
                }
            }
            guard claim() else { return nil }
            let element = try group.withTable(database: database, hash: sourceView.hash) {
                table throws(CommandError) -> [UInt8]? in
                try table.modifyCollection(sourceView, now: now, creating: nil) { (list: inout ListValue) in
                    list.pop(from)
                } ?? nil
            }
            guard let element else { return nil }
            try group.withTable(database: database, hash: destinationView.hash) { table throws(CommandError) in
                _ = try table.modifyCollection(destinationView, now: now, creating: { ListValue() }) { list in
                    element.withUnsafeBytes { list.push($0, at: to, limits: limits) }
                }
            }
            // Redis's order: the push, then the pop (and the source's deletion if it emptied).
            server.notify(.list, to == .head ? "lpush" : "rpush", destinationView.bytes, database: database)
            let emptied = group.withTable(database: database, hash: sourceView.hash) { $0.find(sourceView) == nil }
            server.notifyChanged(.list, from == .head ? "lpop" : "rpop", sourceView, database: database, emptied: emptied)
            return element
        }
    }
}

/// A parked client, as the registry and other loops see it.
final class BlockedClient: Sendable {
    let clientID: Int
    let loopIndex: Int
    let database: Int
    let protocolVersion: Int
    let request: BlockingRequest
    /// Absolute milliseconds, or 0 for no timeout.
    let deadline: Milliseconds
    let limits: EncodingLimits
    /// `waiting`, then exactly one of `served` (a thread popped for it) or `cancelled` (timeout, CLIENT UNBLOCK,
    /// disconnection): whoever wins the compare-and-swap answers the client.
    let state = Atomic<Int>(BlockedClient.waiting)

    static let waiting = 0
    static let served = 1
    static let cancelled = 2

    init(
        clientID: Int, loopIndex: Int, database: Int, protocolVersion: Int, request: BlockingRequest,
        deadline: Milliseconds, limits: EncodingLimits
    ) {
        self.clientID = clientID
        self.loopIndex = loopIndex
        self.database = database
        self.protocolVersion = protocolVersion
        self.request = request
        self.deadline = deadline
        self.limits = limits
    }

    /// Claims the client for `outcome`; false when another thread already answered it.
    func claim(_ outcome: Int) -> Bool {
        state.compareExchange(expected: Self.waiting, desired: outcome, ordering: .acquiringAndReleasing).exchanged
    }
}

/// One key a client can wait on.
struct BlockKey: Hashable, Sendable {
    let database: Int
    let key: Key
}

/// Every blocked client, in FIFO order per key (Redis's `blocking_keys`), and the keys changed since they were
/// last served. One mutex; taken inside shard locks (registration, and the modification hook) and alone,
/// never the other way round.
final class BlockingRegistry: Sendable {
    private struct Contents {
        var waiters: [BlockKey: [BlockedClient]] = [:]
        var tokens: [BlockKey: WatchToken] = [:]
        var clients: [Int: BlockedClient] = [:]
        var ready: [BlockKey] = []
    }

    private let contents = Locked(Contents())
    /// Whether `ready` may be non-empty: the one check every command pays.
    let hasReady = Atomic<Bool>(false)

    var count: Int { contents.withLock { $0.clients.count } }
    /// Blocked clients with a timeout (INFO's clients_in_timeout_table).
    var timedCount: Int { contents.withLock { $0.clients.values.filter { $0.deadline > 0 }.count } }

    func client(_ id: Int) -> BlockedClient? { contents.withLock { $0.clients[id] } }

    /// Adds `client` as the newest waiter of each of its keys. Call with the keys' shards write-locked; `watch`
    /// installs a token on a key's table (the first waiter of a key does).
    func add(_ client: BlockedClient, watch: (BlockKey, WatchToken) -> Void) {
        var newTokens: [(BlockKey, WatchToken)] = []
        contents.withLock { contents in
            contents.clients[client.clientID] = client
            for key in client.request.keys {
                let blockKey = BlockKey(database: client.database, key: key)
                contents.waiters[blockKey, default: []].append(client)
                if contents.tokens[blockKey] == nil {
                    let token = WatchToken { [weak self] in self?.markReady(blockKey) }
                    contents.tokens[blockKey] = token
                    newTokens.append((blockKey, token))
                }
            }
        }
        for (key, token) in newTokens { watch(key, token) }
    }

    /// Removes `client` from every queue. Returns the tokens of keys nobody waits on any more, for the caller to
    /// unwatch once it holds no lock.
    func remove(_ client: BlockedClient) -> [(BlockKey, WatchToken)] {
        contents.withLock { contents in
            contents.clients.removeValue(forKey: client.clientID)
            var idle: [(BlockKey, WatchToken)] = []
            for key in client.request.keys {
                let blockKey = BlockKey(database: client.database, key: key)
                contents.waiters[blockKey]?.removeAll { $0 === client }
                if contents.waiters[blockKey]?.isEmpty == true {
                    contents.waiters[blockKey] = nil
                    if let token = contents.tokens.removeValue(forKey: blockKey) { idle.append((blockKey, token)) }
                }
            }
            return idle
        }
    }

    /// The modification hook: `key` changed (called under its shard's write lock).
    func markReady(_ key: BlockKey) {
        contents.withLock { contents in
            guard contents.waiters[key] != nil, !contents.ready.contains(key) else { return }
            contents.ready.append(key)
        }
        hasReady.store(true, ordering: .releasing)
    }

    func nextReady() -> BlockKey? {
        contents.withLock { contents in
            if contents.ready.isEmpty {
                hasReady.store(false, ordering: .relaxed)
                return nil
            }
            return contents.ready.removeFirst()
        }
    }

    /// The waiters of `key`, oldest first.
    func waiters(of key: BlockKey) -> [BlockedClient] { contents.withLock { $0.waiters[key] ?? [] } }
}

extension ServerState {
    /// Serves the waiters of every key changed since the last call (Redis's handleClientsBlockedOnKeys). Run by
    /// whichever thread executed the command, once it holds no shard lock.
    func serveReadyKeys(now: Milliseconds) {
        while let key = blocking.nextReady() {
            for waiter in blocking.waiters(of: key) {
                guard waiter.state.load(ordering: .acquiring) == BlockedClient.waiting else { continue }
                var out = ReplyBuffer(protocolVersion: waiter.protocolVersion)
                let served: Bool
                do throws(CommandError) {
                    served = try Store(live: keyspace).withKeys(
                        database: waiter.database, hashes: waiter.request.keys.map(\.hash), exclusive: true
                    ) { group throws(CommandError) -> Bool in
                        try waiter.request.attempt(
                            in: group, server: self, database: waiter.database, now: now, limits: waiter.limits, strictTypes: false,
                            out: &out, claim: { waiter.claim(BlockedClient.served) })
                    }
                } catch {
                    // BLMOVE to a destination that is no longer a list: the waiter gets the error, as in Redis.
                    guard waiter.claim(BlockedClient.served) else { continue }
                    out.error(error.text)
                    served = true
                }
                if served {
                    deliver(waiter, out.bytes)
                } else if waiter.state.load(ordering: .acquiring) == BlockedClient.waiting {
                    break  // the key has nothing (left) for anyone
                }
            }
        }
    }

    /// Takes `waiter` out of the registry and sends `reply` to its loop.
    func deliver(_ waiter: BlockedClient, _ reply: [UInt8]) {
        unregister(waiter)
        post(.reply(clientID: waiter.clientID, bytes: reply), toLoop: waiter.loopIndex)
    }

    /// Removes `waiter` from the registry, and the tokens of keys nobody waits on any more from their tables.
    func unregister(_ waiter: BlockedClient) {
        for (key, token) in blocking.remove(waiter) {
            key.key.withView { view in
                keyspace.write(key.database, view) { table in table.unwatch(key.key, token) }
            }
        }
    }
}
