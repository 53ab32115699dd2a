// swift-tools-version:6.0
import PackageDescription

// Dependencies point down: shoal-server → ShoalServer → {RESP, CShoalLua → CLua, ShoalPersistence → {ShoalStore,
// CLZ4}}, and everything may use ShoalPosix (→ CShoalPosix), the one syscall wrapper. ShoalStore uses RESP's
// number rules (string2ll), so an intset member is exactly what INCR calls an integer.
let package = Package(
    name: "Shoal",
    platforms: [.macOS(.v15)],
    products: [
        // Shoal inside a Swift application: the server and its keyspace, in-process.
        .library(name: "Shoal", targets: ["Shoal"]),
        .executable(name: "shoal-server", targets: ["shoal-server"]),
        .executable(name: "shoal-bench", targets: ["shoal-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // HDR latency histograms for shoal-bench.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // `swift package generate-documentation --target Shoal`: the embeddable library's reference.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // epoll, accept4, eventfd and rwlock attributes: absent from `import Glibc` without _GNU_SOURCE.
        .target(name: "CShoalPosix"),
        // The low layer every module may use: syscalls with EINTR/EAGAIN handled once, a TSan-visible mutex.
        .target(name: "ShoalPosix", dependencies: ["CShoalPosix"]),
        .target(name: "RESP"),
        .target(name: "ShoalStore", dependencies: ["CShoalPosix", "ShoalPosix", "RESP"]),
        // liblz4 from the system (Debian: liblz4-dev): snapshot files are standard LZ4 frames.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .target(name: "ShoalPersistence", dependencies: ["ShoalStore", "ShoalPosix", "CLZ4"]),
        // Lua 5.1, the version Redis embeds, from the system (Debian: liblua5.1-0-dev), with the cjson and bit
        // libraries Debian packages; CShoalLua holds the C that must sit between Lua's longjmp and Swift, and
        // the struct and cmsgpack libraries, written here.
        .systemLibrary(
            name: "CLua", pkgConfig: "lua5.1", providers: [.apt(["liblua5.1-0-dev", "lua-cjson-dev", "lua-bitop-dev"])]),
        .target(
            name: "CShoalLua", dependencies: ["CLua"],
            linkerSettings: [.linkedLibrary("lua5.1"), .linkedLibrary("lua5.1-cjson"), .linkedLibrary("lua5.1-bitop")]
        ),
        .target(
            name: "ShoalServer",
            dependencies: [
                "RESP", "ShoalStore", "ShoalPersistence", "CShoalPosix", "ShoalPosix", "CLua", "CShoalLua",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The embeddable library: start/stop, a typed data API, transactions, statistics. shoal-server is a thin
        // main over it.
        .target(
            name: "Shoal",
            dependencies: [
                "ShoalServer", "ShoalPersistence", "ShoalStore", "ShoalPosix", "RESP",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "shoal-server", dependencies: ["Shoal", "ShoalServer", "ShoalPosix"]),
        // The load generator: its own RESP client (the RESP target), independent of the server.
        .executableTarget(
            name: "shoal-bench",
            dependencies: ["RESP", "ShoalStore", .product(name: "Histogram", package: "hdrhistogram-swift")]
        ),
        // Fuzz targets for the request parser and command execution: built with libFuzzer by scripts/fuzz.sh,
        // and otherwise a replayer of the committed corpus (Fuzz/corpus), which the test suite runs.
        .executableTarget(
            name: "shoal-fuzz",
            dependencies: ["ShoalServer", "RESP", "ShoalStore", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "RESPTests", dependencies: ["RESP"]),
        .testTarget(name: "ShoalStoreTests", dependencies: ["ShoalStore"]),
        // Fixtures/ is read by path (#filePath), not bundled.
        .testTarget(name: "ShoalPersistenceTests", dependencies: ["ShoalPersistence", "ShoalStore"], exclude: ["Fixtures"]),
        .testTarget(name: "ShoalServerTests", dependencies: ["ShoalServer", "RESP", "ShoalStore", "ShoalPosix"]),
        .testTarget(name: "ShoalTests", dependencies: ["Shoal"]),
    ]
)
