import RESP
import Testing

@testable import ShoalServer

/// Pub/sub and client tracking across the two event loops, in-process so ThreadSanitizer sees the mailbox, the
/// registries and the change feed.
@Suite struct PubSubTests {
    /// Publishers on both loops, subscribers on both: each subscriber gets every message once, each publisher's
    /// messages in the order they were published.
    @Test func messagesCrossLoopsOnceAndInOrder() throws {
        let server = try TestServer()
        let subscribers = try (0..<4).map { _ in try server.client() }
        for subscriber in subscribers {
            #expect(try subscriber.call("SUBSCRIBE", "feed") == .array([.bulk("subscribe"), .bulk("feed"), .integer(1)]))
        }
        let publishers = 4
        let perPublisher = 200
        try concurrently(publishers) { index in
            let client = try server.client()
            for sequence in 0..<perPublisher {
                let receivers = try client.call("PUBLISH", "feed", "\(index):\(sequence)")
                guard receivers == .integer(4) else { throw TestError("PUBLISH: \(receivers)") }
            }
        }
        for subscriber in subscribers {
            var next = [Int](repeating: 0, count: publishers)
            for _ in 0..<(publishers * perPublisher) {
                guard case .array(let message) = try subscriber.readReply(), message.count == 3,
                    let payload = message[2].string
                else { throw TestError("not a message") }
                let parts = payload.split(separator: ":").compactMap { Int($0) }
                #expect(parts[1] == next[parts[0]], "publisher \(parts[0]) out of order")
                next[parts[0]] = parts[1] + 1
            }
            #expect(next == [Int](repeating: perPublisher, count: publishers))
        }
    }

    /// Tracking clients on both loops; writers on both loops: every read key is invalidated once for each reader.
    @Test func trackingInvalidatesAcrossLoops() throws {
        let server = try TestServer()
        let trackers = try (0..<4).map { _ in try server.client() }
        for tracker in trackers {
            _ = try tracker.call("HELLO", "3")
            #expect(try tracker.call("CLIENT", "TRACKING", "ON") == .simple("OK"))
            for key in 0..<50 { _ = try tracker.call("GET", "key:\(key)") }
        }
        try concurrently(2) { index in
            let writer = try server.client()
            for key in stride(from: index, to: 50, by: 2) { _ = try writer.call("SET", "key:\(key)", "v") }
        }
        for tracker in trackers {
            var invalidated = Set<String>()
            for _ in 0..<50 {
                guard case .push(let message) = try tracker.readReply(), message.count == 2,
                    case .array(let keys) = message[1], let key = keys.first?.string
                else { throw TestError("not an invalidation") }
                invalidated.insert(key)
            }
            #expect(invalidated.count == 50)
            #expect(try tracker.call("PING") == .simple("PONG"))
        }
    }

    /// Keyspace notifications from writes on both loops reach one subscriber, each writer's in its order.
    @Test func keyspaceNotificationsFromBothLoops() throws {
        let server = try TestServer { $0.notifyKeyspaceEvents = KeyspaceEvents("KE$")! }
        let subscriber = try server.client()
        _ = try subscriber.call("PSUBSCRIBE", "__keyevent@0__:*")
        try concurrently(2) { index in
            let writer = try server.client()
            for round in 0..<100 { _ = try writer.call("SET", "w\(index):\(round)", "v") }
        }
        var next = [0, 0]
        for _ in 0..<200 {
            guard case .array(let message) = try subscriber.readReply(), message.count == 4,
                message[2].string == "__keyevent@0__:set", let key = message[3].string
            else { throw TestError("not a set event") }
            let writer = key.hasPrefix("w0") ? 0 : 1
            #expect(key == "w\(writer):\(next[writer])")
            next[writer] += 1
        }
    }
}
