import ShoalPosix
import Synchronization

/// One client's WATCH of one key: set dirty when anyone modifies the key (Redis's `touchWatchedKey`). The
/// watcher reads `dirty` at EXEC while it holds the key's shard, so a modification is either before (dirty)
/// or after the transaction.
public final class WatchToken: Sendable {
    let flag = Atomic<Bool>(false)
    /// The key existed but had already expired when it was watched: deleting it for that is no change.
    let expiredWhenWatched = Atomic<Bool>(false)
    /// Called on every modification, under the key's shard write lock (blocked clients: "this key is ready").
    private let onDirty: (@Sendable () -> Void)?

    public init(onDirty: (@Sendable () -> Void)? = nil) { self.onDirty = onDirty }

    public var isDirty: Bool { flag.load(ordering: .relaxed) }
    func markDirty() {
        flag.store(true, ordering: .relaxed)
        onDirty?()
    }
}

/// The one place a shard reports that a key changed (Redis's `signalModifiedKey`). Every mutation of a table
/// that has observers passes through here: writes, deadline changes, deletes, lazy and active expiry,
/// eviction, FLUSHDB/FLUSHALL and SWAPDB. WATCH is its first user; client tracking, keyspace notifications and
/// blocked clients are to hang off the same calls.
///
/// A table without observers has none (`ShardTable.observer == nil`), so the cost for everyone else is one
/// nil check per mutation. Every access happens under the shard's write lock: WATCH registers under it, and
/// every mutation already holds it.
public final class KeyObserver: @unchecked Sendable {
    private struct Watch {
        let key: Key
        let token: WatchToken
    }

    private var watches: [UInt64: [Watch]] = [:]

    var isEmpty: Bool { watches.isEmpty }

    func add(_ key: Key, _ token: WatchToken) {
        watches[key.hash, default: []].append(Watch(key: key, token: token))
    }

    func remove(_ key: Key, _ token: WatchToken) {
        guard var list = watches[key.hash] else { return }
        list.removeAll { $0.token === token }
        watches[key.hash] = list.isEmpty ? nil : list
    }

    /// The key with these bytes changed (`removedAsExpired`: it was deleted because its deadline had passed).
    func modified(hash: UInt64, removedAsExpired: Bool, key: (Key) -> Bool) {
        guard let list = watches[hash] else { return }
        for watch in list where key(watch.key) {
            if removedAsExpired && watch.token.expiredWhenWatched.load(ordering: .relaxed) {
                // Already logically gone when watched: reclaiming it changes nothing (Redis 7.0 does the same).
                watch.token.expiredWhenWatched.store(false, ordering: .relaxed)
            } else {
                watch.token.markDirty()
            }
        }
    }

    /// Every watched key for which `exists` holds changed (a flush or swap of the whole table).
    func modifiedAll(where exists: (Key) -> Bool) {
        for list in watches.values {
            for watch in list where exists(watch.key) { watch.token.markDirty() }
        }
    }
}

extension ShardTable {
    /// WATCH: from now on, any modification of `key` in this table marks `token` dirty. Records whether the
    /// key is already expired (for EXEC's expiry check).
    public mutating func watch(_ key: Key, _ token: WatchToken, now: Milliseconds) {
        let watcher = observer ?? KeyObserver()
        observer = watcher
        watcher.add(key, token)
        let expired = key.withView { view in find(view).map { isExpired(at: $0, now: now) } ?? false }
        token.expiredWhenWatched.store(expired, ordering: .relaxed)
    }

    /// Ends a WATCH of `key` by `token`.
    public mutating func unwatch(_ key: Key, _ token: WatchToken) {
        guard let watcher = observer else { return }
        watcher.remove(key, token)
        if watcher.isEmpty { observer = nil }
    }

}

extension TableReading {
    /// Whether a watched key that was live when watched has expired since, without anyone deleting it yet
    /// (Redis's `isWatchedKeyExpired`): EXEC fails then, as the key is logically gone.
    public func watchedKeyExpired(_ key: Key, _ token: WatchToken, now: Milliseconds) -> Bool {
        if token.expiredWhenWatched.load(ordering: .relaxed) { return false }
        return key.withView { view in find(view).map { isExpired(at: $0, now: now) } ?? false }
    }
}

/// Why a key changed, for listeners that care (keyspace notifications publish `expired` and `evicted`).
public enum KeyChange: Sendable {
    /// A key that did not exist is about to be inserted (its value is written next, as `written`).
    case created
    case written, expired, evicted
}

/// Hears of every change to every key of a keyspace, on the thread that makes it, under the key's shard write
/// lock (the listener must not take a shard lock). Client tracking invalidates from here and keyspace
/// notifications publish expiries and evictions. Costs one atomic load per change while nobody listens.
///
/// The listener is installed once, when the server state is built and before any thread that changes keys is
/// started (thread creation orders the two), and only read after: reading it takes no lock.
public final class ChangeFeed: @unchecked Sendable {
    public typealias Listener = @Sendable (_ key: UnsafeRawBufferPointer, _ database: Int, _ change: KeyChange) -> Void

    private let listening = Atomic<Bool>(false)
    private var listener: Listener?

    public init() {}

    /// Installs the one listener (the server does, while building its state, before starting any thread).
    public func install(_ listener: @escaping Listener) { self.listener = listener }

    /// Turns reporting on or off (on while a client tracks keys or notifications of expiry/eviction are on).
    public func setListening(_ on: Bool) { listening.store(on, ordering: .relaxed) }

    @inline(__always)
    var isListening: Bool { listening.load(ordering: .relaxed) }

    func report(_ key: UnsafeRawBufferPointer, database: Int, change: KeyChange) {
        listener?(key, database, change)
    }
}
