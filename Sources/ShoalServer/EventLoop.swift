import CShoalPosix
import Logging
import RESP
import ShoalPosix
import ShoalStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One epoll loop on its own thread. It owns its listeners (SO_REUSEPORT: the kernel spreads new connections
/// over the loops) and every connection it accepts; commands run inline on this thread, with no hand-off.
///
/// epoll data carries a registration id, never a bare fd: ids are never reused, so an event that arrives for
/// a connection closed earlier in the same batch (whose fd may already be reused) finds nothing and is ignored.
final class EventLoop: @unchecked Sendable {
    let index: Int
    let server: ServerState
    let stats: LoopStats
    let logger: Logger
    private let epollFD: Int32
    private let wakeFD: Int32
    private var listeners: [Int32]
    @exclusivity(unchecked) private var connections = ConnectionSlots()
    /// The same connections by client id, for mail.
    @exclusivity(unchecked) private var byClient: [Int: Connection] = [:]
    private let stopping = Atomic<Bool>(false)
    @exclusivity(unchecked) private var lastHousekeeping: Int64 = 0
    /// Clients parked by a blocking command, by client id, until a reply arrives in the mailbox or they time out.
    @exclusivity(unchecked) private var blocked: [Int: Connection] = [:]

    /// This loop's view of the settings, shared by its sessions; refreshed at every wake when CONFIG SET changed
    /// something (one atomic load otherwise).
    let settings: SettingsView
    var queryBufferLimit: Int { settings.current.queryBufferLimit }
    var outputLimits: (hard: Int, soft: Int, softSeconds: Int) { settings.current.outputLimits }
    var pubsubOutputLimits: (hard: Int, soft: Int, softSeconds: Int) { settings.current.pubsubOutputLimits }

    private static let wakeID: UInt64 = 0
    private static let firstListenerID: UInt64 = 1
    private static let firstConnectionID: UInt64 = 1 << 32

    init(index: Int, server: ServerState, listeners: [Int32]) throws(SystemError) {
        self.index = index
        self.server = server
        self.stats = server.loopStats[index]
        settings = SettingsView(server.config)
        self.listeners = listeners
        logger = server.logger
        epollFD = try Syscall.check("epoll_create1") { cshoal_epoll_create() }
        wakeFD = try Syscall.check("eventfd") { cshoal_eventfd() }
        try Syscall.check("epoll_ctl(eventfd)") {
            cshoal_epoll_ctl(epollFD, Epoll.add, wakeFD, Epoll.input, Self.wakeID)
        }
        for (offset, fd) in listeners.enumerated() {
            try Syscall.check("epoll_ctl(listener)") {
                cshoal_epoll_ctl(epollFD, Epoll.add, fd, Epoll.input, Self.firstListenerID + UInt64(offset))
            }
        }
    }

    deinit {
        close(epollFD)
        close(wakeFD)
    }

    /// Asks the loop to stop; it closes its listeners, flushes what it can and closes its clients.
    func stop() {
        stopping.store(true, ordering: .releasing)
        wake()
    }

    /// Interrupts epoll_wait from another thread (CLIENT KILL, shutdown).
    func wake() {
        var one: UInt64 = 1
        _ = try? Syscall.write(wakeFD, &one, 8)
    }

    /// The wall clock when `epoll_wait` last returned: it dates every command of that batch (Redis likewise
    /// dates a command by a cached time). Taken after the requests arrived, so a key whose deadline a client
    /// saw pass before sending is seen expired.
    @exclusivity(unchecked) private(set) var now: Milliseconds = currentTimeMilliseconds()

    func run() {
        cshoal_set_current_loop(Int32(index))
        server.scripting.installBusyServer(loop: index) { [unowned self] caller in serveWhileBusy(caller: caller) }
        var datas = [UInt64](repeating: 0, count: 256)
        var events = [UInt32](repeating: 0, count: 256)
        while !stopping.load(ordering: .acquiring) {
            // Mail this loop posted to itself (a PUBLISH to a subscriber here, late in the last pass) woke nobody.
            var timeout = pendingFlush.isEmpty && !mailbox.hasMail ? max(1, 1000 / settings.current.hz) : 0
            if let deadline = nearestBlockingDeadline() {
                timeout = min(timeout, Int(max(0, deadline - currentTimeMilliseconds())))
            }
            if !paused.isEmpty {
                timeout = min(timeout, Int(max(0, server.pausedUntil.load(ordering: .relaxed) - currentTimeMilliseconds())))
            }
            let count: Int32
            do throws(SystemError) {
                count = try Syscall.check("epoll_wait") {
                    cshoal_epoll_wait(epollFD, &datas, &events, 256, Int32(timeout))
                }
            } catch {
                logger.warning("epoll_wait failed: \(error)")
                break
            }
            if count > 0 { now = currentTimeMilliseconds() }
            settings.refresh()
            for position in 0..<Int(count) {
                let id = datas[position]
                let flags = events[position]
                if id == Self.wakeID {
                    var value: UInt64 = 0
                    _ = try? Syscall.read(wakeFD, &value, 8)
                    closeKilledClients()
                    deliverMail()
                } else if id < Self.firstConnectionID {
                    acceptClients(listener: listeners[Int(id - Self.firstListenerID)])
                } else if let connection = connections[id] {
                    // Mail posted before this client's request arrived goes out before its reply.
                    if mailbox.hasMail { deliverMail() }
                    handle(connection, flags)
                }
            }
            if mailbox.hasMail { deliverMail() }
            if !blocked.isEmpty { expireBlockedClients() }
            if !paused.isEmpty { resumePausedClients() }
            flushPending()
            housekeeping()
        }
        shutdown()
    }

    // MARK: - While a script runs long

    @exclusivity(unchecked) private var servingWhileBusy = false

    /// Called from the instruction hook of a script of this loop that ran past busy-reply-threshold, on this
    /// loop's thread: reads what the loop's other clients sent and answers it (-BUSY, or SCRIPT KILL, FUNCTION
    /// KILL, SHUTDOWN NOSAVE: see `busyRefusal`), and accepts new connections, as Redis's
    /// processEventsWhileBlocked. The script's own connection is left alone: its command is running, its replies
    /// half written. Mail waits for the script to end (epoll is level-triggered: the wake is still there).
    func serveWhileBusy(caller: ClientSession) {
        guard !servingWhileBusy else { return }
        servingWhileBusy = true
        defer { servingWhileBusy = false }
        var datas = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        let count = cshoal_epoll_wait(epollFD, &datas, &events, 64, 0)
        guard count > 0 else { return }
        for position in 0..<Int(count) {
            let id = datas[position]
            if id == Self.wakeID { continue }
            if id < Self.firstConnectionID {
                acceptClients(listener: listeners[Int(id - Self.firstListenerID)])
                continue
            }
            guard let connection = connections[id], connection.session !== caller, !connection.isClosed else { continue }
            handle(connection, events[position])
        }
        let waiting = pendingFlush
        pendingFlush = waiting.filter { $0.session === caller }
        for connection in waiting where connection.session !== caller {
            connection.flushScheduled = false
            guard !connection.isClosed else { continue }
            if !connection.handleWritable(server: server, loop: self) { closeConnection(connection) }
        }
    }

    // MARK: - Paused clients

    /// Connections whose next command waits for CLIENT PAUSE to end.
    @exclusivity(unchecked) private var paused: [Connection] = []

    func holdForPause(_ connection: Connection) {
        if !paused.contains(where: { $0 === connection }) { paused.append(connection) }
    }

    /// Runs the commands that waited, once the pause is over (its time passed, or CLIENT UNPAUSE woke us).
    private func resumePausedClients() {
        guard server.pausedUntil.load(ordering: .acquiring) <= currentTimeMilliseconds() else { return }
        let waiting = paused
        paused = []
        for connection in waiting where !connection.isClosed {
            if !connection.drive(server: server, loop: self) { closeConnection(connection) }
        }
    }

    // MARK: - Blocked clients

    /// Called by a connection whose command blocked.
    func park(_ connection: Connection) { blocked[connection.session.id] = connection }

    private func nearestBlockingDeadline() -> Milliseconds? {
        guard !blocked.isEmpty else { return nil }
        return blocked.values.compactMap { $0.session.blocked?.deadline }.filter { $0 > 0 }.min()
    }

    private var mailbox: Mailbox { server.mailboxes[index] }

    /// What other threads posted for this loop's clients: blocked pops served by the thread that pushed,
    /// published messages, invalidations.
    private func deliverMail() {
        for mail in mailbox.drain() {
            switch mail {
            case .reply(let clientID, let bytes):
                guard let connection = blocked.removeValue(forKey: clientID), !connection.isClosed else { continue }
                connection.unblock(with: bytes, server: server, loop: self)
            case .publish(let publication):
                for target in publication.targets {
                    guard let connection = byClient[target.clientID], !connection.isClosed else { continue }
                    publication.write(to: &connection.session.out, pattern: target.pattern)
                    scheduleFlush(connection)
                }
            case .invalidate(let clientID, let keys, let redirected):
                guard let connection = byClient[clientID], !connection.isClosed else { continue }
                if connection.session.writeInvalidation(keys, redirected: redirected) { scheduleFlush(connection) }
            case .monitor(let clientIDs, let line):
                for id in clientIDs {
                    guard let connection = byClient[id], !connection.isClosed else { continue }
                    connection.session.out.bytes += line
                    scheduleFlush(connection)
                }
            case .redirectBroken(let clientID, let redirect):
                guard let connection = byClient[clientID], !connection.isClosed else { continue }
                connection.session.tracking?.brokenRedirect = true
                guard connection.session.protocolVersion >= 3 else { continue }
                connection.session.out.pushHeader(2)
                connection.session.out.bulk("tracking-redir-broken")
                connection.session.out.integer(redirect)
                scheduleFlush(connection)
            }
        }
    }

    /// Answers the blocked clients whose timeout passed (the nothing reply), unless a pusher claimed them first.
    private func expireBlockedClients() {
        let wallNow = currentTimeMilliseconds()
        for (id, connection) in blocked {
            guard let waiter = connection.session.blocked, waiter.deadline > 0, waiter.deadline <= wallNow else {
                continue
            }
            cancelBlocked(id, connection, waiter) { waiter.request.replyNothing(to: &$0, timedOut: true) }
        }
    }

    /// Ends a wait on this loop (timeout, CLIENT UNBLOCK): answers with `reply` if no pusher claimed it first.
    func cancelBlocked(
        _ id: Int, _ connection: Connection, _ waiter: BlockedClient, reply: (inout ReplyBuffer) -> Void
    ) {
        guard waiter.claim(BlockedClient.cancelled) else { return }  // served: its reply is in the mailbox
        server.unregister(waiter)
        blocked.removeValue(forKey: id)
        var out = ReplyBuffer(protocolVersion: waiter.protocolVersion)
        reply(&out)
        connection.unblock(with: out.bytes, server: server, loop: self)
    }

    /// Connections with replies to send once this wake's events are handled.
    @exclusivity(unchecked) private var pendingFlush: [Connection] = []

    func scheduleFlush(_ connection: Connection) {
        guard !connection.flushScheduled else { return }
        connection.flushScheduled = true
        pendingFlush.append(connection)
    }

    /// Sends the replies of this wake. A paused client whose replies drained runs its waiting commands and is
    /// scheduled again; after a few rounds the rest waits for the next wake (epoll_wait then does not sleep).
    private func flushPending() {
        for _ in 0..<4 where !pendingFlush.isEmpty {
            let batch = pendingFlush
            pendingFlush.removeAll(keepingCapacity: true)
            for connection in batch {
                connection.flushScheduled = false
                guard !connection.isClosed else { continue }
                if !connection.handleWritable(server: server, loop: self) { closeConnection(connection) }
            }
        }
    }

    private func handle(_ connection: Connection, _ flags: UInt32) {
        var keep = true
        if flags & (Epoll.input | Epoll.error | Epoll.hangup) != 0 {
            keep = connection.handleReadable(server: server, loop: self)
        }
        if keep && flags & Epoll.output != 0 && !connection.isClosed {
            keep = connection.handleWritable(server: server, loop: self)
        }
        if !keep { closeConnection(connection) }
    }

    // MARK: - Accepting

    private func acceptClients(listener: Int32) {
        for _ in 0..<1000 {
            var address = sockaddr_storage()
            var length = UInt32(MemoryLayout<sockaddr_storage>.size)
            let fd: Int32
            do throws(SystemError) {
                guard case .processed(let accepted) = try Syscall.accept(listener, &address, &length) else { return }
                fd = accepted
            } catch {
                logger.warning("Accepting client connection: \(error)")
                return
            }
            let peer = Sockets.describe(address)
            bump(stats.connectionsReceived)
            if server.connectedClients.load(ordering: .relaxed) >= settings.current.maxClients {
                refuse(fd, "-ERR max number of clients reached\r\n")
                continue
            }
            if settings.current.protectedMode && !settings.current.hasPassword && !Sockets.isLoopback(peer.host) {
                refuse(fd, "-\(CommandError.protectedMode.text)\r\n")
                continue
            }
            Sockets.configureClient(fd, keepalive: settings.current.tcpKeepalive)
            let local = Sockets.localAddress(fd)
            let handle = ClientHandle(
                id: server.clients.makeID(), address: Sockets.format(peer.host, peer.port),
                localAddress: Sockets.format(local.host, local.port), fd: fd, loopIndex: index,
                now: currentTimeMilliseconds())
            let session = ClientSession(
                handle: handle, authenticated: !settings.current.hasPassword, stats: stats, settings: settings)
            let registration = connections.nextRegistration()
            var limits = RequestLimits()
            limits.maxBulkLength = settings.current.protoMaxBulkLen
            let connection = Connection(fd: fd, registration: registration, session: session, limits: limits)
            guard cshoal_epoll_ctl(epollFD, Epoll.add, fd, Epoll.input, registration) == 0 else {
                logger.warning("Registering client: \(SystemError("epoll_ctl"))")
                close(fd)
                continue
            }
            connections.insert(connection)
            byClient[handle.id] = connection
            server.clients.add(handle)
            server.connectedClients.add(1, ordering: .relaxed)
            logger.debug("Accepted \(handle.address)")
        }
    }

    private func refuse(_ fd: Int32, _ message: String) {
        bump(stats.rejectedConnections)
        var message = message
        message.withUTF8 { _ = try? Syscall.write(fd, $0.baseAddress!, $0.count) }
        close(fd)
    }

    // MARK: - Connections

    func modify(_ connection: Connection, events: UInt32) -> Bool {
        cshoal_epoll_ctl(epollFD, Epoll.modify, connection.fd, events, connection.registration) == 0
    }

    func closeConnection(_ connection: Connection) {
        guard !connection.isClosed else { return }
        connection.markClosed()
        _ = cshoal_epoll_ctl(epollFD, Epoll.delete, connection.fd, 0, 0)
        close(connection.fd)
        connections.remove(connection)
        byClient.removeValue(forKey: connection.session.id)
        server.clients.remove(connection.session.id)
        server.releaseSharedState(connection.session)
        if let waiter = connection.session.blocked {
            blocked.removeValue(forKey: connection.session.id)
            if waiter.claim(BlockedClient.cancelled) { server.unregister(waiter) }
        }
        server.discardTransaction(connection.session)
        server.connectedClients.subtract(1, ordering: .relaxed)
        logger.debug("Client closed connection id=\(connection.session.id) addr=\(connection.session.handle.address)")
    }

    private func closeKilledClients() {
        for connection in connections.all
        where connection.session.handle.killRequested.load(ordering: .relaxed) {
            closeConnection(connection)
        }
    }

    /// Every 100 ms: pick up config changes, close idle clients (`timeout`), apply output buffer time limits.
    private func housekeeping() {
        let now = monotonicMicroseconds()
        guard now - lastHousekeeping >= 100_000 else { return }
        lastHousekeeping = now
        let idleTimeoutSeconds = settings.current.idleTimeoutSeconds
        if idleTimeoutSeconds > 0 {
            let limit = Int64(idleTimeoutSeconds) * 1000
            let wallNow = currentTimeMilliseconds()
            for connection in connections.all
            where wallNow - connection.session.handle.lastInteraction.load(ordering: .relaxed) > limit {
                logger.info("Closing idle client id=\(connection.session.id) addr=\(connection.session.handle.address)")
                closeConnection(connection)
            }
        }
    }

    /// Stop accepting, send the replies already computed, close every client.
    private func shutdown() {
        for listener in listeners {
            _ = cshoal_epoll_ctl(epollFD, Epoll.delete, listener, 0, 0)
            close(listener)
        }
        listeners = []
        for connection in connections.all {
            _ = connection.flush(loop: self)
            closeConnection(connection)
        }
    }
}

/// A loop's connections by registration id, in an array: an id is a slot number in its low 32 bits and a
/// sequence number above (so never reused, and at least `1 << 32`, above the wake and listener ids). Finding
/// the connection for an epoll event is an index and one compare; a dictionary lookup (hashing the id) was
/// 150 instructions, 4% of a GET at pipeline 1.
struct ConnectionSlots {
    private var slots: [Connection?] = []
    private var free: [Int] = []
    private var sequence: UInt64 = 0
    private var reserved: Int?

    /// The id for the next `insert`.
    mutating func nextRegistration() -> UInt64 {
        let slot = reserved ?? free.popLast() ?? slots.count
        reserved = slot
        sequence += 1
        return sequence << 32 | UInt64(slot)
    }

    /// Stores a connection made with the id `nextRegistration` returned last.
    mutating func insert(_ connection: Connection) {
        let slot = Int(truncatingIfNeeded: connection.registration & 0xFFFF_FFFF)
        precondition(reserved == slot, "insert without nextRegistration")
        reserved = nil
        if slot == slots.count { slots.append(connection) } else { slots[slot] = connection }
    }

    mutating func remove(_ connection: Connection) {
        let slot = Int(truncatingIfNeeded: connection.registration & 0xFFFF_FFFF)
        guard slot < slots.count, slots[slot] === connection else { return }
        slots[slot] = nil
        free.append(slot)
    }

    /// The connection an event's id names, or nil when it has closed since.
    @inline(__always)
    subscript(id: UInt64) -> Connection? {
        let slot = Int(truncatingIfNeeded: id & 0xFFFF_FFFF)
        guard slot < slots.count, let connection = slots[slot], connection.registration == id else { return nil }
        return connection
    }

    var all: [Connection] { slots.compactMap { $0 } }
}
