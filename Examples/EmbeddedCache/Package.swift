// swift-tools-version:6.0
import PackageDescription

// An application that embeds Shoal: it depends on the repository by path and imports the `Shoal` library only
// (none of the server's executables).
let package = Package(
    name: "EmbeddedCache",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Shoal", path: "../..")],
    targets: [
        .executableTarget(name: "EmbeddedCache", dependencies: [.product(name: "Shoal", package: "Shoal")])
    ]
)
