import ShoalPosix
import ShoalStore
import Synchronization

// MONITOR: every command any client runs, as Redis's replicationFeedMonitors prints it, sent to the monitoring
// clients on whatever loop they are (one mail per loop per command).

/// The clients in MONITOR mode, by id, with their loops.
final class MonitorRegistry: Sendable {
    private let monitors = Locked<[Int: Int]>([:])
    private let count = Atomic<Int>(0)

    var isActive: Bool { count.load(ordering: .relaxed) > 0 }

    /// Adds a monitor; false when it was one already.
    func add(_ clientID: Int, loop: Int) -> Bool {
        monitors.withLock { monitors in
            guard monitors.updateValue(loop, forKey: clientID) == nil else { return false }
            count.store(monitors.count, ordering: .relaxed)
            return true
        }
    }

    func remove(_ clientID: Int) {
        monitors.withLock { monitors in
            guard monitors.removeValue(forKey: clientID) != nil else { return }
            count.store(monitors.count, ordering: .relaxed)
        }
    }

    /// Monitor ids grouped by loop.
    func byLoop() -> [Int: [Int]] {
        monitors.withLock { all in Dictionary(grouping: all.keys, by: { all[$0]! }) }
    }
}

extension ServerState {
    /// After a command ran: its line for every monitor (Redis leaves out admin commands; EXEC comes after the
    /// commands it ran).
    func feedMonitors(_ command: Command, _ client: ClientSession, _ args: Arguments) {
        guard !command.flags.contains(.admin) else { return }
        var line = Array("+".utf8)
        let now = currentTimeMicroseconds()
        line += cFormat("%lld.%06lld ", [now / 1_000_000, now % 1_000_000])
        line += Array("[\(client.database) \(client.handle.address)] ".utf8)
        let shown = SlowLogEntry.redacting(args)
        for index in 0..<args.count {
            if index > 0 { line.append(UInt8(ascii: " ")) }
            if shown.contains(index) {
                line += Array("\"(redacted)\"".utf8)
            } else {
                appendRepr(args[index], to: &line)
            }
        }
        line += [13, 10]
        for (loop, ids) in monitors.byLoop() { post(.monitor(clientIDs: ids, line: line), toLoop: loop) }
    }
}

/// Redis's sdscatrepr: a quoted string with `\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b` escaped and other
/// unprintable bytes as `\xhh`.
func appendRepr(_ bytes: UnsafeRawBufferPointer, to line: inout [UInt8]) {
    line.append(UInt8(ascii: "\""))
    for byte in bytes {
        switch byte {
        case UInt8(ascii: "\\"), UInt8(ascii: "\""): line += [UInt8(ascii: "\\"), byte]
        case 10: line += Array("\\n".utf8)
        case 13: line += Array("\\r".utf8)
        case 9: line += Array("\\t".utf8)
        case 7: line += Array("\\a".utf8)
        case 8: line += Array("\\b".utf8)
        case 32...126: line.append(byte)
        default: line += cFormat("\\x%02x", [Int32(byte)])
        }
    }
    line.append(UInt8(ascii: "\""))
}

extension ServerState {
    /// Ends everything a session registered beyond its loop: subscriptions, tracking, MONITOR (disconnection,
    /// RESET, and a pooled embedded session handed back).
    func releaseSharedState(_ session: ClientSession) {
        if session.subscriptions != nil { unsubscribeAll(session) }
        if session.tracking != nil { disableTracking(session) }
        if session.handle.isMonitor.load(ordering: .relaxed) {
            monitors.remove(session.id)
            session.handle.isMonitor.store(false, ordering: .relaxed)
        }
    }
}

func monitorCommand(_ ctx: CommandContext) throws(CommandError) {
    if ctx.client.transaction != nil || ctx.store.isHeld {
        throw CommandError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    }
    // A second MONITOR is ignored, without a reply, as Redis.
    guard ctx.server.monitors.add(ctx.client.id, loop: ctx.client.handle.loopIndex) else { return }
    ctx.client.handle.isMonitor.store(true, ordering: .relaxed)
    ctx.out.ok()
}

let monitorCommands: [Command] = [
    Command(
        "monitor", arity: 1, flags: [.admin, .noscript, .loading, .stale], group: "server",
        summary: "Listens for all requests received by the server in real-time.", since: "1.0.0",
        handler: monitorCommand),
]
