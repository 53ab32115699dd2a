import RESP
import ShoalStore

// MULTI, EXEC, DISCARD, WATCH and UNWATCH (Redis's multi.c), over many shards and many threads.
//
// Queuing copies each command's arguments (the request's argv are views into the input buffer, gone after
// the command). EXEC works out every shard its queue can reach (`TransactionPlan`), locks them all at once in
// the one global ascending order, checks the watched keys, runs each queued command through the ordinary
// dispatcher with a pre-locked `Store`, and releases. Nobody sees the transaction half done, and two
// transactions can't deadlock: each takes its whole lock set in the same order before it runs anything.

/// A queued command: its table entry and its own copy of its arguments.
struct QueuedCommand {
    let command: Command
    private let storage: [UInt8]
    private let spans: [ArgSpan]

    init(_ command: Command, _ args: Arguments) {
        self.command = command
        var storage: [UInt8] = []
        var spans: [ArgSpan] = []
        for index in 0..<args.count {
            spans.append(ArgSpan(offset: storage.count, count: args[index].count))
            storage.append(contentsOf: args[index])
        }
        self.storage = storage
        self.spans = spans
    }

    func withArguments<R>(_ body: (Arguments) -> R) -> R {
        storage.withUnsafeBytes { base in
            spans.withUnsafeBufferPointer { spans in body(Arguments(base: base.baseAddress, spans: spans)) }
        }
    }
}

/// A client's open MULTI.
final class TransactionState {
    var queue: [QueuedCommand] = []
    /// A command was refused while queuing (unknown, wrong arity, OOM...): EXEC will answer EXECABORT.
    var refused = false
}

/// One WATCH of a client: the key, its database and the token its shard marks dirty on any change.
struct WatchedKey {
    let database: Int
    let key: Key
    let token: WatchToken
}

/// The shards a transaction's queue (and its watched keys) can reach, and whether any of it writes.
///
/// Keys come from each command's key positions, in the database that command will run in (a queued SELECT
/// moves the rest). Commands that reach whole databases (FLUSHDB, DBSIZE, KEYS, SCAN, RANDOMKEY) add all of
/// that database's shards; those that reach everything (FLUSHALL, SWAPDB, INFO, SAVE, CONFIG RESETSTAT) add
/// every shard. The plan is an over-approximation by design: a command that can't run (a bad database index)
/// still locks what it names, and fails at its turn as it would outside a transaction.
struct TransactionPlan {
    private(set) var ids: [ShardID] = []
    private(set) var exclusive = false
    private var everything = false

    /// - Parameter scriptsLockAll: `lua-undeclared-keys lock-all`: scripts may reach any key, so they add every
    ///   shard.
    init(
        queue: [QueuedCommand], database start: Int, watched: [WatchedKey], keyspace: Keyspace,
        scriptsLockAll: Bool = false
    ) {
        var database = start
        let databases = keyspace.databaseCount
        func validDatabase(_ bytes: UnsafeRawBufferPointer) -> Int? {
            guard let value = parseInt64(bytes), value >= 0, value < Int64(databases) else { return nil }
            return Int(value)
        }
        for watch in watched {
            ids.append(ShardID(database: watch.database, shard: keyspace.shardIndex(for: watch.key.hash)))
        }
        for queued in queue {
            let command = queued.command
            if !command.flags.contains(.readonly) { exclusive = true }
            queued.withArguments { args in
                func key(_ index: Int, in database: Int) {
                    ids.append(ShardID(database: database, shard: keyspace.shardIndex(for: args.key(index).hash)))
                }
                switch command.fullName {
                case "select":
                    if let target = validDatabase(args[1]) { database = target }
                case "move":
                    key(1, in: database)
                    if let target = validDatabase(args[2]) { key(1, in: target) }
                case "copy":
                    key(1, in: database)
                    key(2, in: database)
                    for index in 3..<max(3, args.count - 1) where args.matches(index, "DB") {
                        if let target = validDatabase(args[index + 1]) { key(2, in: target) }
                    }
                case "sort" where args.hasSortPattern, "sort_ro" where args.hasSortPattern:
                    // BY and GET patterns read keys that no argument names: the whole database.
                    ids += keyspace.allShardIDs(databases: [database])
                case "georadius", "georadiusbymember", "sort":
                    // The STORE (STOREDIST) destination is a key wherever it appears.
                    key(1, in: database)
                    for index in 2..<max(2, args.count - 1)
                    where args.matches(index, "STORE") || args.matches(index, "STOREDIST") {
                        key(index + 1, in: database)
                    }
                case "flushdb", "dbsize", "keys", "scan", "randomkey":
                    ids += keyspace.allShardIDs(databases: [database])
                case "flushall", "swapdb", "info", "save", "config|resetstat":
                    everything = true
                case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro" where scriptsLockAll:
                    everything = true
                default:
                    for index in command.keyIndices(args) { key(index, in: database) }
                }
            }
        }
        if everything { ids = keyspace.everyShardID }
    }
}

extension TransactionPlan {
    /// The commands the plan does not take from their key positions alone (the cases of its switch).
    static let reachesBeyondItsKeys: Set<String> = [
        "select", "move", "copy", "sort", "sort_ro", "georadius", "georadiusbymember", "flushdb", "dbsize", "keys",
        "scan", "randomkey", "flushall", "swapdb", "info", "save", "config|resetstat", "eval", "evalsha", "eval_ro",
        "evalsha_ro", "fcall", "fcall_ro",
    ]
}

extension Arguments {
    /// Whether a SORT names BY or GET patterns (which read keys no argument names).
    var hasSortPattern: Bool { (2..<max(2, count)).contains { matches($0, "BY") || matches($0, "GET") } }
}

extension Command {
    /// The argument positions that hold keys: from the table's first/last/step (negative last: from the end),
    /// or the `numkeys` keys after `numkeysAt` (none when that count is not valid: the command will fail).
    /// With both (ZUNIONSTORE: the destination, then the sources), both.
    func keyIndices(_ args: Arguments) -> [Int] {
        let count = args.count
        var indices: [Int] = []
        if firstKey > 0, keyStep > 0 {
            let last = lastKey < 0 ? count + lastKey : lastKey
            indices += Array(stride(from: firstKey, to: min(last, count - 1) + 1, by: keyStep))
        }
        if numkeysAt > 0, numkeysAt < count, let keys = parseInt64(args[numkeysAt]), keys > 0, keys < Int64(count) {
            indices += Array((numkeysAt + 1)..<min(count, numkeysAt + 1 + Int(keys)))
        }
        return indices
    }

    /// MULTI's own commands and the connection's way out run at once even inside a transaction (Redis's
    /// processCommand list); everything else is queued.
    var runsInsideMulti: Bool {
        switch name {
        case "exec", "discard", "multi", "watch", "quit", "reset": return true
        default: return false
        }
    }
}

extension ServerState {
    /// EXEC: runs the queue atomically, or answers a null array when a watched key changed.
    func exec(_ ctx: CommandContext) throws(CommandError) {
        let client = ctx.client
        guard let transaction = client.transaction else { throw .execWithoutMulti }
        client.transaction = nil
        let watched = client.watched
        defer { unwatchAll(client) }
        if transaction.refused { throw .execAbort }
        // What the dispatcher checks for one command, EXEC checks for its queue, before any lock is taken.
        let writes = transaction.queue.contains { $0.command.flags.contains(.write) }
        if transaction.queue.contains(where: { $0.command.flags.contains(.denyOOM) }),
            evictIfOverLimit(now: ctx.now, settings: client.settings.current) == .nothingEvictable
        {
            throw .execAborted(because: .outOfMemory)
        }
        if writes && snapshots.writesBlocked.load(ordering: .relaxed) {
            throw .execAborted(because: CommandError.misconf)
        }
        let plan = TransactionPlan(
            queue: transaction.queue, database: client.database, watched: watched, keyspace: keyspace,
            scriptsLockAll: client.settings.current.scriptsMayLockAll)
        keyspace.withShards(plan.ids, exclusive: plan.exclusive) { group in
            let store = Store(holding: group)
            let changed = watched.contains { watch in
                watch.token.isDirty
                    || group.readTable(database: watch.database, hash: watch.key.hash) { table in
                        table.watchedKeyExpired(watch.key, watch.token, now: ctx.now)
                    }
            }
            if changed {
                client.out.nullArray()
                return
            }
            client.out.arrayHeader(transaction.queue.count)
            for queued in transaction.queue {
                queued.withArguments { args in
                    invoke(queued.command, client, args, now: ctx.now, store: store)
                }
            }
        }
        // Work that must not run while the shards are held (FLUSHALL's save) runs now.
        client.runDeferredWork()
    }

    /// WATCH: registers each key with its shard (under the shard's write lock, as every modification is).
    func watch(_ ctx: CommandContext) throws(CommandError) {
        guard ctx.client.transaction == nil else { throw .watchInsideMulti }
        for index in 1..<ctx.args.count {
            let view = ctx.args.key(index)
            let database = ctx.database
            if ctx.client.watched.contains(where: { $0.database == database && view.matches($0.key) }) { continue }
            let watch = WatchedKey(database: database, key: view.owned(), token: WatchToken())
            keyspace.write(database, view) { table in table.watch(watch.key, watch.token, now: ctx.now) }
            ctx.client.watched.append(watch)
        }
        ctx.out.ok()
    }

    /// Forgets every key the client watches (EXEC, DISCARD, UNWATCH, RESET, and when it disconnects).
    /// `store`: a queued UNWATCH runs inside its EXEC, whose plan holds the watched keys' shards.
    func unwatchAll(_ client: ClientSession, store: Store? = nil) {
        let store = store ?? Store(live: keyspace)
        for watch in client.watched {
            watch.key.withView { view in
                store.write(watch.database, view) { table in table.unwatch(watch.key, watch.token) }
            }
        }
        client.watched.removeAll()
    }

    /// Ends an open MULTI without running it, and the client's WATCHes with it.
    func discardTransaction(_ client: ClientSession) {
        client.transaction = nil
        unwatchAll(client)
    }
}

let transactionCommands: [Command] = [
    Command(
        "multi", arity: 1, flags: [.noscript, .loading, .stale, .fast], group: "transactions",
        summary: "Starts a transaction.", since: "1.2.0"
    ) { ctx throws(CommandError) in
        guard ctx.client.transaction == nil else { throw .nestedMulti }
        ctx.client.transaction = TransactionState()
        ctx.out.ok()
    },
    Command(
        "exec", arity: 1, flags: [.noscript, .loading, .stale], group: "transactions",
        summary: "Executes all commands in a transaction.", since: "1.2.0",
        complexity: "Depends on commands in the transaction"
    ) { ctx throws(CommandError) in
        try ctx.server.exec(ctx)
    },
    Command(
        "discard", arity: 1, flags: [.noscript, .loading, .stale, .fast], group: "transactions",
        summary: "Discards a transaction.", since: "2.0.0",
        complexity: "O(N), when N is the number of queued commands"
    ) { ctx throws(CommandError) in
        guard ctx.client.transaction != nil else { throw .discardWithoutMulti }
        ctx.server.discardTransaction(ctx.client)
        ctx.out.ok()
    },
    Command(
        "watch", arity: -2, flags: [.noscript, .loading, .stale, .fast], keys: (1, -1, 1),
        group: "transactions", summary: "Monitors changes to keys to determine the execution of a transaction.",
        since: "2.2.0", complexity: "O(1) for every key."
    ) { ctx throws(CommandError) in
        try ctx.server.watch(ctx)
    },
    Command(
        "unwatch", arity: 1, flags: [.noscript, .loading, .stale, .fast], group: "transactions",
        summary: "Forgets about watched keys of a transaction.", since: "2.2.0"
    ) { ctx throws(CommandError) in
        ctx.server.unwatchAll(ctx.client, store: ctx.store)
        ctx.out.ok()
    },
]
