import Shoal

#if canImport(Glibc)
    import Glibc
#endif

// EmbeddedCache PORT: runs Shoal inside this process on 127.0.0.1:PORT, writes a few keys from Swift, prints
// the value of `from-cli` whenever a client changes it, and stops cleanly on SIGTERM or SIGINT.
// EmbeddedCache --self-test: starts and stops Shoal 20 times and checks that no thread or descriptor is left.
// EmbeddedCache --bench [N]: times N in-process SETs and GETs through the Swift API.

/// One line on standard output, unbuffered (a supervisor or a test reads it as it happens).
func say(_ line: String) {
    var text = "EmbeddedCache: \(line)\n"
    text.withUTF8 { _ = write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}

func entries(_ directory: String) -> Int {
    guard let handle = opendir(directory) else { return -1 }
    defer { closedir(handle) }
    var count = 0
    while readdir(handle) != nil { count += 1 }
    return count
}

/// The thread count once it has stopped changing (a thread that has been joined may still be leaving
/// /proc/self/task for a moment): the same count in 5 looks 20 ms apart, or whatever it is after 3 seconds.
func settledThreadCount() -> Int {
    var last = entries("/proc/self/task")
    var same = 0
    for _ in 0..<150 where same < 5 {
        usleep(20_000)
        let now = entries("/proc/self/task")
        same = now == last ? same + 1 : 0
        last = now
    }
    return last
}

if CommandLine.arguments.dropFirst().first == "--self-test" {
    do {
        try ShoalInstance.start().stop()  // one round first: the runtime's own one-time threads are not leaks
        let threads = settledThreadCount()
        let descriptors = entries("/proc/self/fd")
        for round in 0..<20 {
            var configuration = ShoalConfiguration()
            configuration.listens = round % 2 == 0
            let shoal = try ShoalInstance.start(configuration)
            try shoal.set("round", String(round))
            guard try shoal.getString("round") == String(round) else { say("self-test: wrong value"); exit(1) }
            try shoal.stop()
        }
        let leftThreads = settledThreadCount() - threads
        let leftDescriptors = entries("/proc/self/fd") - descriptors
        say("self-test: 20 starts and stops, \(leftThreads) threads and \(leftDescriptors) descriptors left")
        exit(leftThreads == 0 && leftDescriptors == 0 ? 0 : 1)
    } catch {
        say("self-test failed: \(error)")
        exit(1)
    }
}

// EmbeddedCache --bench N: the cost of N GETs and N SETs through the Swift API, in this process.
if CommandLine.arguments.dropFirst().first == "--bench" {
    let count = CommandLine.arguments.dropFirst(2).first.flatMap { Int($0) } ?? 200_000
    do {
        var configuration = ShoalConfiguration()
        configuration.listens = false
        let shoal = try ShoalInstance.start(configuration)
        let clock = ContinuousClock()
        let value = Array(repeating: UInt8(ascii: "v"), count: 16)
        let setTime = try clock.measure { for index in 0..<count { try shoal.set("key:\(index % 1000)", value) } }
        var found = 0
        let getTime = try clock.measure {
            for index in 0..<count where try shoal.get("key:\(index % 1000)") != nil { found += 1 }
        }
        func perCall(_ duration: Duration) -> String {
            let (seconds, attoseconds) = duration.components
            let nanoseconds = (Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(count)
            return String(Int(nanoseconds.rounded())) + " ns"
        }
        say("bench: \(count) SETs \(perCall(setTime)) each, \(count) GETs \(perCall(getTime)) each (\(found) found)")
        try shoal.stop()
        exit(0)
    } catch {
        say("bench failed: \(error)")
        exit(1)
    }
}

guard let port = CommandLine.arguments.dropFirst().first.flatMap({ Int($0) }) else {
    say("usage: EmbeddedCache PORT | --self-test")
    exit(2)
}

// Stop signals are taken by sigwait below, not by the default handler (the server's threads inherit the mask).
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

var configuration = ShoalConfiguration()
configuration.options.port = port
configuration.options.bind = ["127.0.0.1"]
let shoal: ShoalInstance
do {
    shoal = try ShoalInstance.start(configuration)
    try shoal.set("greeting", "hello from Swift")
    try shoal.set("session:42", "alice", expiresIn: .seconds(3600))
    try shoal.increment("visits")
} catch {
    say("could not start: \(error)")
    exit(1)
}
say("Shoal is listening on 127.0.0.1:\(shoal.port ?? port); wrote greeting, session:42 and visits")

// What a client writes is what this process reads: the same keyspace.
Task.detached {
    var last: String?
    while true {
        if let value = try? shoal.getString("from-cli"), value != last {
            say("from-cli = \(value)")
            last = value
        }
        try? await Task.sleep(for: .milliseconds(50))
    }
}

var received: Int32 = 0
while sigwait(&stopSignals, &received) != 0 {}
say("received \(received == SIGINT ? "SIGINT" : "SIGTERM"), stopping")
do {
    try shoal.stop()
} catch {
    say("stop failed: \(error)")
    exit(1)
}
say("stopped")
exit(0)
