import RESP
import ShoalPosix
import ShoalStore

// Running commands from Swift code in the server's own process (the `Shoal` library's data API): the same
// handlers, checks and side effects as a command from a socket (keyspace notifications, tracking
// invalidations, blocked clients served, maxmemory, statistics), through sessions that belong to no loop.

/// Sessions for in-process callers: each call borrows one (a session is used by one thread at a time).
public final class EmbeddedClient: @unchecked Sendable {
    let state: ServerState
    private let idle = Locked<[ClientSession]>([])

    public init(state: ServerState) { self.state = state }

    private func withSession<R>(database: Int, _ body: (ClientSession) throws -> R) rethrows -> R {
        let session = idle.withLock { $0.popLast() } ?? state.makeDetachedSession()
        session.database = database
        session.authenticated = true
        defer {
            // A pooled session starts every call as a new connection would: no MULTI, WATCH, subscription,
            // tracking, MONITOR or CLIENT REPLY OFF left from the last caller (a session that belongs to no loop
            // could never receive what those send).
            state.discardTransaction(session)
            state.releaseSharedState(session)
            session.replyMode = .on
            session.protocolVersion = 2
            session.closeAfterReply = false
            session.out.truncate(to: 0)
            idle.withLock { if $0.count < 64 { $0.append(session) } }
        }
        return try body(session)
    }

    /// Runs one command in `database` and returns its reply's bytes (RESP2).
    public func call(_ arguments: [[UInt8]], database: Int = 0) -> [UInt8] {
        withSession(database: database) { session in state.run(arguments, session: session) }
    }

    /// Runs `body` with the shards of `keys` in `database` held exclusively, in the global order: every command
    /// it runs through the transaction is atomic with the others, and no other client sees them half done.
    /// A command that reaches a key outside `keys` is refused (it could not be atomic with them).
    public func transaction<R>(
        database: Int, keys: [[UInt8]], _ body: (EmbeddedTransaction) throws -> R
    ) rethrows -> R {
        try withSession(database: database) { session in
            let hashes = keys.map { Key($0).hash }
            let result = try Store(live: state.keyspace).withKeys(database: database, hashes: hashes, exclusive: true) {
                group in
                try body(EmbeddedTransaction(state: state, session: session, group: group))
            }
            session.runDeferredWork()
            if state.blocking.hasReady.load(ordering: .acquiring) { state.serveReadyKeys(now: currentTimeMilliseconds()) }
            return result
        }
    }
}

/// The commands of one `EmbeddedClient.transaction` closure, run under its held shards.
public struct EmbeddedTransaction {
    let state: ServerState
    let session: ClientSession
    let group: ShardGroup

    /// Runs one command against the held shards and returns its reply's bytes.
    public func call(_ arguments: [[UInt8]]) -> [UInt8] {
        guard let first = arguments.first else { return Array("-ERR empty command\r\n".utf8) }
        return ServerState.replying(session, arguments) { args in
            guard var command = first.withUnsafeBytes({ state.commands.lookup($0) }) else {
                session.out.error("ERR unknown command '\(String(decoding: first, as: UTF8.self))'")
                return
            }
            if !command.subcommands.isEmpty && args.count >= 2,
                let sub = command.subcommands.first(where: { args.matchesLowercased(1, $0.name) })
            {
                command = sub
            }
            guard command.acceptsArgumentCount(args.count), command.handler != nil else {
                session.out.error(CommandError.wrongArity(command.fullName).text)
                return
            }
            let plan = TransactionPlan(
                queue: [QueuedCommand(command, args)], database: session.database, watched: [], keyspace: state.keyspace)
            guard plan.ids.allSatisfy({ group.holds($0) }), command.name != "select" else {
                session.out.error("ERR \(command.fullName) reaches keys outside this transaction's keys")
                return
            }
            state.invoke(command, session, args, now: currentTimeMilliseconds(), store: Store(holding: group))
        }
    }
}
