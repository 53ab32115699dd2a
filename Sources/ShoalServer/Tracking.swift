import CShoalPosix
import RESP
import ShoalPosix
import ShoalStore
import Synchronization

// Client-side caching: CLIENT TRACKING (Redis's tracking.c), across event loops.
//
// Default mode: before a tracking client's read-only command runs, its keys are remembered in the tracking
// table (key -> client ids). Remembering before the read, not after, matters here where Redis is single-threaded:
// a write on another loop between the read and the remembering would otherwise leave the client caching a stale
// value with no invalidation coming. A write that lands before the read costs at most one spurious invalidation,
// which arrives after the read's reply (the mailbox is drained between commands), so the client drops a value
// that was in fact fresh, never keeps one that is stale.
//
// Every change to a key reaches `invalidateTracked` through the store's change feed, on the writer's thread and
// under the key's shard lock, so the invalidation is posted to the tracking client's loop before the writer's
// reply is even queued. That loop checks its mailbox before it reads any connection, so: once a writer has
// received its reply, any command a tracking client sends afterwards is answered after the invalidation.
// BCAST mode matches the changed key against the registered prefixes instead.

/// One client's CLIENT TRACKING settings (Redis's CLIENT_TRACKING_* flags).
struct TrackingOptions: Sendable, Equatable {
    var redirect = 0
    var bcast = false
    var optin = false
    var optout = false
    var noloop = false
    var prefixes: [[UInt8]] = []
}

/// The tracking state a loop keeps for its own client.
struct ClientTracking {
    var options: TrackingOptions
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) was given for the next command.
    var caching = false
    /// The redirect target disappeared (TRACKINGINFO's broken_redirect).
    var brokenRedirect = false

    /// Whether the keys of the read-only command now running are remembered (trackingRememberKeys).
    var remembersKeys: Bool {
        guard !options.bcast else { return false }
        if options.optin { return caching }
        if options.optout { return !caching }
        return true
    }
}

/// Every tracking client and every remembered key. Keys live in stripes, each behind its own mutex, so
/// writers on different loops rarely meet; the clients sit behind one more. Lock order: shard locks, then a
/// stripe, then the clients (never the other way).
final class TrackingRegistry: Sendable {
    struct Tracker: Sendable {
        let loop: Int
        let options: TrackingOptions
    }

    private static let stripeCount = 16
    private let stripes: [Locked<[[UInt8]: Set<Int>]>] = (0..<TrackingRegistry.stripeCount).map { _ in Locked([:]) }
    private let trackers = Locked<[Int: Tracker]>([:])
    private let trackerCount = Atomic<Int>(0)
    private let prefixCount = Atomic<Int>(0)
    /// INFO's tracking_total_keys and tracking_total_items.
    let keyCount = Atomic<Int>(0)
    let itemCount = Atomic<Int>(0)

    var isActive: Bool { trackerCount.load(ordering: .relaxed) > 0 }
    var clientCount: Int { trackerCount.load(ordering: .relaxed) }
    var totalPrefixes: Int { prefixCount.load(ordering: .relaxed) }

    private func stripe(_ key: UnsafeRawBufferPointer) -> Locked<[[UInt8]: Set<Int>]> {
        var hash: UInt64 = 14_695_981_039_346_656_037
        for byte in key.prefix(32) { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
        return stripes[Int(hash % UInt64(Self.stripeCount))]
    }

    func enable(_ clientID: Int, loop: Int, options: TrackingOptions) {
        let previous = trackers.withLock { trackers in
            trackers.updateValue(Tracker(loop: loop, options: options), forKey: clientID)
        }
        if previous == nil { trackerCount.add(1, ordering: .relaxed) }
        prefixCount.add(options.prefixes.count - (previous?.options.prefixes.count ?? 0), ordering: .relaxed)
    }

    func disable(_ clientID: Int) {
        guard let previous = trackers.withLock({ $0.removeValue(forKey: clientID) }) else { return }
        trackerCount.subtract(1, ordering: .relaxed)
        prefixCount.subtract(previous.options.prefixes.count, ordering: .relaxed)
    }

    func tracker(_ clientID: Int) -> Tracker? { trackers.withLock { $0[clientID] } }

    /// Remembers that `clientID` may cache `key`. Returns keys evicted from a full table (`maxKeys`).
    func remember(_ key: UnsafeRawBufferPointer, clientID: Int, maxKeys: Int) -> [([UInt8], Set<Int>)] {
        let added = stripe(key).withLock { table -> (newKey: Bool, newItem: Bool) in
            let bytes = Array(key)
            var newKey = false
            if table[bytes] == nil { newKey = true }
            let inserted = table[bytes, default: []].insert(clientID).inserted
            return (newKey, inserted)
        }
        if added.newKey { keyCount.add(1, ordering: .relaxed) }
        if added.newItem { itemCount.add(1, ordering: .relaxed) }
        guard maxKeys > 0, keyCount.load(ordering: .relaxed) > maxKeys else { return [] }
        // Over tracking-table-max-keys: forget a few keys, invalidating them for their clients (Redis's
        // trackingLimitUsedSlots), a bounded amount per call.
        var evicted: [([UInt8], Set<Int>)] = []
        var stripeIndex = Int.random(in: 0..<Self.stripeCount)
        for _ in 0..<Self.stripeCount where keyCount.load(ordering: .relaxed) > maxKeys && evicted.count < 10 {
            stripes[stripeIndex].withLock { table in
                while evicted.count < 10, keyCount.load(ordering: .relaxed) > maxKeys, let first = table.first {
                    table.removeValue(forKey: first.key)
                    keyCount.subtract(1, ordering: .relaxed)
                    itemCount.subtract(first.value.count, ordering: .relaxed)
                    evicted.append((first.key, first.value))
                }
            }
            stripeIndex = (stripeIndex + 1) % Self.stripeCount
        }
        return evicted
    }

    /// Forgets `key` and returns the clients that had it remembered.
    func take(_ key: UnsafeRawBufferPointer) -> Set<Int> {
        let ids = stripe(key).withLock { $0.removeValue(forKey: Array(key)) }
        guard let ids else { return [] }
        keyCount.subtract(1, ordering: .relaxed)
        itemCount.subtract(ids.count, ordering: .relaxed)
        return ids
    }

    /// BCAST clients with a prefix of `key`.
    func broadcastTargets(of key: UnsafeRawBufferPointer) -> [Int] {
        guard prefixCount.load(ordering: .relaxed) > 0 else { return [] }
        return trackers.withLock { trackers in
            trackers.compactMap { id, tracker in
                guard tracker.options.bcast else { return nil }
                return tracker.options.prefixes.contains { key.starts(with: $0) } ? id : nil
            }
        }
    }

    /// FLUSHALL/FLUSHDB: forgets every key; returns every tracking client.
    func flush() -> [Int] {
        for stripe in stripes { stripe.withLock { $0.removeAll() } }
        keyCount.store(0, ordering: .relaxed)
        itemCount.store(0, ordering: .relaxed)
        return trackers.withLock { Array($0.keys) }
    }
}

extension ServerState {
    /// CLIENT TRACKING ON for `client` (validated by the command).
    func enableTracking(_ client: ClientSession, _ options: TrackingOptions) {
        var state = client.tracking ?? ClientTracking(options: options)
        var merged = options
        // BCAST without PREFIX tracks the empty prefix, which every key has (Redis adds it even beside others).
        if options.bcast && options.prefixes.isEmpty { merged.prefixes = [[]] }
        // Turning it on again adds to the prefixes registered before (the command refused overlapping ones).
        if let previous = client.tracking?.options {
            merged.prefixes = previous.prefixes + merged.prefixes.filter { !previous.prefixes.contains($0) }
        }
        state.options = merged
        state.brokenRedirect = false
        client.tracking = state
        tracking.enable(client.id, loop: client.handle.loopIndex, options: merged)
        updateChangeFeed()
    }

    func disableTracking(_ client: ClientSession) {
        guard client.tracking != nil else { return }
        client.tracking = nil
        tracking.disable(client.id)
        updateChangeFeed()
    }

    /// Before a read-only command of a tracking client: remember its keys.
    func rememberTrackedKeys(_ client: ClientSession, _ command: Command, _ args: Arguments) {
        let maxKeys = config.current.trackingTableMaxKeys
        for index in command.keyIndices(args) where index < args.count {
            for (key, ids) in tracking.remember(args[index], clientID: client.id, maxKeys: maxKeys) {
                for id in ids { sendInvalidation(to: id, keys: [key], excluding: 0) }
            }
        }
    }

    /// The change feed's tracking part: `key` changed on this thread.
    func invalidateTracked(_ key: UnsafeRawBufferPointer) {
        let executing = cshoal_executing_client_id()
        let ids = tracking.take(key)
        let broadcast = tracking.broadcastTargets(of: key)
        guard !ids.isEmpty || !broadcast.isEmpty else { return }
        let bytes = Array(key)
        for id in ids { sendInvalidation(to: id, keys: [bytes], excluding: executing, bcastOnly: false) }
        for id in broadcast { sendInvalidation(to: id, keys: [bytes], excluding: executing, bcastOnly: true) }
    }

    /// FLUSHALL / FLUSHDB: every tracking client hears a null invalidation.
    func invalidateAllTracked() {
        for id in tracking.flush() { sendInvalidation(to: id, keys: nil, excluding: 0) }
    }

    /// Posts an invalidation of `keys` for tracking client `id` to whoever receives its invalidations.
    /// `bcastOnly`: reached through a prefix (else through the table, which a BCAST client no longer uses).
    private func sendInvalidation(to id: Int, keys: [[UInt8]]?, excluding executing: Int, bcastOnly: Bool? = nil) {
        guard let tracker = tracking.tracker(id) else { return }
        if let bcastOnly, tracker.options.bcast != bcastOnly { return }
        if tracker.options.noloop && id == executing { return }
        let redirect = tracker.options.redirect
        guard redirect != 0 else {
            post(.invalidate(clientID: id, keys: keys, redirected: false), toLoop: tracker.loop)
            return
        }
        guard let target = clients.handle(redirect) else {
            post(.redirectBroken(clientID: id, redirect: redirect), toLoop: tracker.loop)
            return
        }
        post(.invalidate(clientID: redirect, keys: keys, redirected: true), toLoop: target.loopIndex)
    }
}

extension ClientSession {
    /// Appends an invalidation message as this client receives it: a RESP3 push, or in RESP2 a message on
    /// `__redis__:invalidate` when it receives them for another client and is subscribed (else nothing).
    /// Returns whether anything was written.
    func writeInvalidation(_ keys: [[UInt8]]?, redirected: Bool) -> Bool {
        if protocolVersion >= 3 {
            out.pushHeader(2)
            out.bulk("invalidate")
        } else if redirected && subscriptions != nil {
            out.arrayHeader(3)
            out.bulk("message")
            out.bulk("__redis__:invalidate")
        } else {
            return false
        }
        if let keys {
            out.arrayHeader(keys.count)
            for key in keys { out.bulk(key) }
        } else {
            out.null()
        }
        return true
    }
}
