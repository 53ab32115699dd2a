// swift-tools-version:6.0
import PackageDescription

// Dependencies point down: shoal-server → ShoalServer → {RESP, ShoalStore} ; CShoalPosix is the only C.
let package = Package(
    name: "Shoal",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "shoal-server", targets: ["shoal-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // epoll, accept4, eventfd and rwlock attributes: absent from `import Glibc` without _GNU_SOURCE.
        .target(name: "CShoalPosix"),
        .target(name: "RESP"),
        .target(name: "ShoalStore", dependencies: ["CShoalPosix"]),
        .target(
            name: "ShoalServer",
            dependencies: [
                "RESP", "ShoalStore", "CShoalPosix",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "shoal-server", dependencies: ["ShoalServer"]),
        .testTarget(name: "RESPTests", dependencies: ["RESP"]),
        .testTarget(name: "ShoalStoreTests", dependencies: ["ShoalStore"]),
        .testTarget(name: "ShoalServerTests", dependencies: ["ShoalServer", "RESP", "ShoalStore"]),
    ]
)
