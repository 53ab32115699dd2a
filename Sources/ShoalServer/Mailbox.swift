import ShoalPosix
import Synchronization

/// Work another thread posts for one of a loop's clients (DESIGN.md, "A mailbox per event loop").
enum Mail: Sendable {
    /// The answer to a blocked command, served by the thread that pushed (BLPOP...).
    case reply(clientID: Int, bytes: [UInt8])
    /// A published message for some of the loop's subscribers.
    case publish(Publication)
    /// CLIENT TRACKING: `keys` changed (nil: everything, after FLUSHALL/FLUSHDB). `redirected`: the client
    /// receives them for another client's tracking (REDIRECT), as `__redis__:invalidate` messages in RESP2.
    case invalidate(clientID: Int, keys: [[UInt8]]?, redirected: Bool)
    /// A command as MONITOR shows it, for some of the loop's monitoring clients.
    case monitor(clientIDs: [Int], line: [UInt8])
    /// CLIENT TRACKING REDIRECT to a client that is gone: RESP3 clients hear `tracking-redir-broken`.
    case redirectBroken(clientID: Int, redirect: Int)
}

/// A loop's queue of mail, with an atomic flag the loop checks before it reads a connection: mail posted before
/// a client's request arrived is delivered before that request's reply.
final class Mailbox: Sendable {
    private let messages = Locked<[Mail]>([])
    private let pending = Atomic<Bool>(false)

    /// Queues `mail`. Returns true when the mailbox was empty, so the poster must wake the loop (a loop that
    /// is awake drains everything queued, so later posts need no further wake-up).
    func post(_ mail: Mail) -> Bool {
        let wasEmpty = messages.withLock { messages in
            messages.append(mail)
            return messages.count == 1
        }
        if wasEmpty { pending.store(true, ordering: .releasing) }
        return wasEmpty
    }

    var hasMail: Bool { pending.load(ordering: .acquiring) }

    func drain() -> [Mail] {
        pending.store(false, ordering: .relaxed)
        return messages.withLock { messages in
            defer { messages = [] }
            return messages
        }
    }
}
