// swift-tools-version:6.0
import PackageDescription

// Release builds of the data plane use -Ounchecked semantics only where measured; the
// default is ordinary -O with whole-module optimisation (SwiftPM's release default).
let package = Package(
    name: "Switchyard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "switchyard", targets: ["switchyard"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C: _GNU_SOURCE, epoll/eventfd/timerfd/splice/SO_PEERCRED and wrappers for glibc's
        // transparent-union socket calls that Swift cannot pass pointers to.
        .target(name: "CSwitchyardShims"),
        // `switchyard version`'s commit, from git before every build.
        .plugin(name: "BuildInfo", capability: .buildTool()),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2",
                       providers: [.apt(["libnghttp2-dev"])]),

        .target(name: "SwitchyardSystem", dependencies: ["CSwitchyardShims"]),
        .target(name: "SwitchyardHTTP", dependencies: ["CNGHTTP2"]),
        .target(name: "SwitchyardRouting"),
        .target(name: "SwitchyardTLS", dependencies: ["COpenSSL"]),
        .target(name: "SwitchyardProxy",
                dependencies: ["SwitchyardSystem", "SwitchyardHTTP", "SwitchyardRouting", "SwitchyardTLS", "CSwitchyardShims"]),
        .target(name: "SwitchyardAdmin",
                dependencies: ["SwitchyardProxy", "SwitchyardRouting", "SwitchyardSystem", "SwitchyardTLS"]),
        // Small origin servers: the demo's two built-in backends and the tests' backends.
        .target(name: "SwitchyardOrigin", dependencies: ["SwitchyardSystem", "CSwitchyardShims"]),
        .executableTarget(name: "switchyard",
                          dependencies: ["SwitchyardProxy", "SwitchyardRouting", "SwitchyardOrigin", "SwitchyardSystem",
                                         "SwitchyardAdmin", "SwitchyardTLS", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          plugins: ["BuildInfo"]),

        // Test-only: counts malloc calls made on threads that opt in.
        .target(name: "CSwitchyardMallocCounter"),
        // Test-only: what several test targets (and the chunked fuzz harness) share.
        .target(name: "SwitchyardTestSupport", dependencies: ["SwitchyardHTTP", "SwitchyardSystem"], path: "Tests/SwitchyardTestSupport"),

        .testTarget(name: "SwitchyardHTTPTests", dependencies: ["SwitchyardHTTP", "SwitchyardTestSupport"]),
        .testTarget(name: "SwitchyardRoutingTests", dependencies: ["SwitchyardRouting", "SwitchyardTestSupport"]),
        .testTarget(name: "SwitchyardTLSTests", dependencies: ["SwitchyardTLS", "CSwitchyardMallocCounter", "SwitchyardTestSupport"]),
        .testTarget(name: "SwitchyardAdminTests",
                    dependencies: ["SwitchyardAdmin", "SwitchyardProxy", "SwitchyardOrigin", "SwitchyardRouting",
                                   "SwitchyardSystem", "SwitchyardTestSupport", "CSwitchyardMallocCounter"]),
        .testTarget(name: "SwitchyardProxyTests",
                    dependencies: ["SwitchyardProxy", "SwitchyardOrigin", "SwitchyardRouting", "SwitchyardSystem",
                                   "SwitchyardHTTP", "CSwitchyardMallocCounter", "CSwitchyardShims", "CNGHTTP2",
                                   "SwitchyardTestSupport"]),
    ]
)
