import Logging
import RESP
import ShoalPosix
import ShoalStore

#if canImport(Glibc)
    import Glibc
#endif

/// One client connection, owned by one event loop for its whole life.
///
/// Per readable event: one `read` into the query buffer, every complete command in it parsed in place and run
/// in order. Their replies are sent with one `write` (more only when the socket is full) once the loop has
/// handled every event of this wake, as Redis's `handleClientsWithPendingWrites` does: the client is woken once
/// for a burst of replies, not once per connection in the middle of the server's batch. When a client's
/// unsent replies pass `pauseThreshold` it is not read from, and its buffered commands wait, until the replies
/// drain: a client that pipelines without reading cannot make the server buffer without bound.
///
/// Only its loop's thread touches a connection, so its state has no dynamic exclusivity checks (callgrind: they
/// were several percent of every request).
final class Connection {
    let fd: Int32
    let registration: UInt64
    let session: ClientSession
    private let input = InputBuffer()
    @exclusivity(unchecked) private var parser: RequestParser
    /// Bytes of `session.out` already written to the socket.
    @exclusivity(unchecked) private var written = 0
    @exclusivity(unchecked) private(set) var interest: UInt32 = Epoll.input
    /// When the output passed the soft limit (0: not over it), for `client-output-buffer-limit`.
    @exclusivity(unchecked) private var softLimitSince: Int64 = 0
    @exclusivity(unchecked) private(set) var isClosed = false
    /// True while this connection waits in its loop's list of replies to send at the end of the wake.
    @exclusivity(unchecked) var flushScheduled = false
    /// Its next command waits for CLIENT PAUSE to end (the loop resumes it).
    @exclusivity(unchecked) var waitsForPause = false

    static let pauseThreshold = 256 * 1024
    static let maxReadSize = 1024 * 1024

    init(fd: Int32, registration: UInt64, session: ClientSession, limits: RequestLimits) {
        self.fd = fd
        self.registration = registration
        self.session = session
        parser = RequestParser(limits: limits)
    }

    var pendingOutput: Int { session.out.count - written }
    var queryBufferLength: Int { input.readableCount }

    /// Reads what the socket has, runs the commands, writes the replies. Returns false when the connection
    /// should be closed.
    func handleReadable(server: ServerState, loop: EventLoop) -> Bool {
        // A large bulk that is still arriving is read in one piece, as Redis does, instead of 16 KB at a time.
        let missing = parser.bytesNeeded - input.readableCount
        let size = min(max(InputBuffer.defaultCapacity, missing), Self.maxReadSize)
        let space = input.reserveWritable(size)
        let count: Int
        do throws(SystemError) {
            switch try Syscall.read(fd, space.baseAddress!, space.count) {
            case .wouldBlock: return true
            case .processed(0): return false
            case .processed(let n): count = n
            }
        } catch {
            loop.logger.info("Error reading from client \(session.handle.address): \(error)")
            return false
        }
        input.didWrite(count)
        bump(loop.stats.netInputBytes, by: count)
        // The loop's time of this wake dates the commands of this batch (`drive`) and the client's last
        // interaction (CLIENT LIST idle, and `timeout`).
        session.handle.lastInteraction.store(loop.now, ordering: .relaxed)
        if input.readableCount > loop.queryBufferLimit {
            loop.logger.warning(
                "Closing client that reached max query buffer length: id=\(session.id) addr=\(session.handle.address) qbuf=\(input.readableCount)"
            )
            return false
        }
        return drive(server: server, loop: loop)
    }

    /// Runs the buffered commands and leaves their replies for the loop to send at the end of this wake
    /// (`handleWritable`), which resumes a paused client's remaining commands once its replies have drained.
    func drive(server: ServerState, loop: EventLoop) -> Bool {
        waitsForPause = false
        processInput(server: server, now: loop.now)
        if session.blocked != nil { loop.park(self) }
        if waitsForPause { loop.holdForPause(self) }
        loop.scheduleFlush(self)
        return true
    }

    /// A blocked command was answered (`reply`): its bytes join the replies, and the commands the client sent
    /// meanwhile run now.
    func unblock(with reply: [UInt8], server: ServerState, loop: EventLoop) {
        session.out.bytes.append(contentsOf: reply)
        session.blocked = nil
        _ = drive(server: server, loop: loop)
    }

    /// Runs every complete command in the query buffer, stopping early when replies pile up. `now` is the
    /// batch's time: every expiry check in it uses the same instant.
    private func processInput(server: ServerState, now: Milliseconds) {
        while input.readableCount > 0 && !session.closeAfterReply && !isClosed && session.blocked == nil {
            if pendingOutput > Self.pauseThreshold { break }
            let view = input.readable
            if parser.bytesNeeded > view.count { break }
            let consumed: Int?
            do throws(ProtocolError) {
                consumed = try parser.parse(view, authenticated: session.authenticated)
            } catch {
                session.out.error("ERR \(error.description)")
                session.closeAfterReply = true
                server.logger.info(
                    "Protocol error (\(error.message)) from client: id=\(session.id) addr=\(session.handle.address)")
                parser.resetCommandState()
                break
            }
            guard let consumed else { break }
            if server.pausedUntil.load(ordering: .relaxed) > 0 && mustWaitForPause(server, view) {
                waitsForPause = true
                break
            }
            if !parser.spans.isEmpty {
                parser.spans.withUnsafeBufferPointer { spans in
                    if parser.isInline {
                        parser.inlineStorage.withUnsafeBytes { storage in
                            server.execute(session, Arguments(base: storage.baseAddress, spans: spans), now: now)
                        }
                    } else {
                        server.execute(session, Arguments(base: view.baseAddress, spans: spans), now: now)
                    }
                }
            }
            input.consume(consumed)
        }
        if input.readableCount == 0 { input.shrinkIfIdle() }
        session.handle.queryBuffer.store(input.readableCount, ordering: .relaxed)
        session.handle.queryBufferFree.store(input.capacity - input.readableCount, ordering: .relaxed)
    }

    /// Whether the parsed command must wait for CLIENT PAUSE: every command under ALL, writes and publishes under
    /// WRITE (Redis's may-replicate commands). Ends the pause when its time is up.
    private func mustWaitForPause(_ server: ServerState, _ view: UnsafeRawBufferPointer) -> Bool {
        let until = server.pausedUntil.load(ordering: .acquiring)
        guard until > currentTimeMilliseconds() else { return false }
        guard server.pauseWritesOnly.load(ordering: .relaxed) else { return true }
        guard let first = parser.spans.first else { return false }
        func held(_ base: UnsafeRawBufferPointer) -> Bool {
            let name = UnsafeRawBufferPointer(rebasing: base[first.offset..<(first.offset + first.count)])
            return server.commands.lookup(name)?.waitsForWritePause ?? false
        }
        return parser.isInline ? parser.inlineStorage.withUnsafeBytes(held) : held(view)
    }

    /// Writes pending replies. Returns false when the connection must close (error, or close-after-reply done).
    func flush(loop: EventLoop) -> Bool {
        while written < session.out.count {
            let attempt: Result<IOResult<Int>, SystemError> = session.out.bytes.withUnsafeBytes { bytes in
                do throws(SystemError) {
                    return .success(try Syscall.write(fd, bytes.baseAddress! + written, bytes.count - written))
                } catch {
                    return .failure(error)
                }
            }
            guard case .success(let result) = attempt else {
                if case .failure(let error) = attempt {
                    loop.logger.info("Error writing to client \(session.handle.address): \(error)")
                }
                return false
            }
            guard case .processed(let count) = result else { break }
            written += count
            bump(loop.stats.netOutputBytes, by: count)
        }
        if written == session.out.count {
            session.out.discardFront(written)
            written = 0
            if session.out.bytes.capacity > 4 * 1024 * 1024 {
                session.out = ReplyBuffer(protocolVersion: session.out.protocolVersion)
            }
            softLimitSince = 0
            if session.closeAfterReply { return false }
        } else if written > 1024 * 1024 {
            session.out.discardFront(written)
            written = 0
        }
        session.handle.outputPending.store(pendingOutput, ordering: .relaxed)
        session.handle.outputCapacity.store(session.out.bytes.capacity, ordering: .relaxed)
        return checkOutputLimits(loop: loop) && updateInterest(loop: loop)
    }

    /// The socket has room again (or the wake's events are all handled): send what is pending and resume the
    /// commands that waited for it.
    func handleWritable(server: ServerState, loop: EventLoop) -> Bool {
        guard flush(loop: loop) else { return false }
        return pendingOutput <= Self.pauseThreshold && input.readableCount > 0
            ? drive(server: server, loop: loop) : true
    }

    /// Redis's `client-output-buffer-limit <class> <hard> <soft> <seconds>`: past the hard limit, or past the
    /// soft one for longer than the given seconds, the client is closed. A subscribed client is of class pubsub.
    private func checkOutputLimits(loop: EventLoop) -> Bool {
        let pending = pendingOutput
        let limits = session.subscriptions != nil ? loop.pubsubOutputLimits : loop.outputLimits
        if limits.hard > 0 && pending > limits.hard {
            loop.logger.warning(
                "Client id=\(session.id) addr=\(session.handle.address) closed for overcoming of output buffer limits.")
            return false
        }
        if limits.soft > 0 && pending > limits.soft {
            let now = monotonicMicroseconds()
            if softLimitSince == 0 {
                softLimitSince = now
            } else if now - softLimitSince > Int64(limits.softSeconds) * 1_000_000 {
                loop.logger.warning(
                    "Client id=\(session.id) addr=\(session.handle.address) closed for overcoming of output buffer limits."
                )
                return false
            }
        } else {
            softLimitSince = 0
        }
        return true
    }

    /// Reads while replies are below the threshold; waits for writability while any are unsent.
    private func updateInterest(loop: EventLoop) -> Bool {
        var wanted: UInt32 = 0
        if pendingOutput <= Self.pauseThreshold { wanted |= Epoll.input }
        if pendingOutput > 0 { wanted |= Epoll.output }
        if wanted != interest {
            interest = wanted
            return loop.modify(self, events: wanted)
        }
        return true
    }

    func markClosed() { isClosed = true }
}
