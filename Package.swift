// swift-tools-version:6.0
import PackageDescription

// Release builds of the data plane use -Ounchecked semantics only where measured; the
// default is ordinary -O with whole-module optimisation (SwiftPM's release default).

// The data plane's release build drops Swift's *dynamic* exclusivity checks
// (swift_beginAccess/endAccess on every access to a class property or global the compiler
// cannot prove statically): in callgrind they were a measurable share of a request's
// instructions. What proves the property instead: each worker's objects are touched by its
// own loop thread only (cross-thread work arrives as messages, README "Cross-thread work"),
// and every test runs the debug build, where the checks stay on and trap on a conflicting
// access, under the same request paths (`make tsan` covers the cross-thread side).
// Static checks (compile-time) are unaffected.
// -cross-module-optimization: the data plane's modules make their function bodies available
// to the modules that call them (the proxy's loop calls the parsers, the socket layer and
// the routing table across module boundaries), so calls are inlined and specialised there
// and their retains and releases optimised away. callgrind, same invocation: 12,609 → 12,262
// instructions and 40 → 36 reference-count calls per HTTP/1.1 request, 25,876 → 25,514 and
// 68 → 65 per HTTP/2 request at -m 100. A compiler mode, no check turned off; the release
// build takes about 30 s longer. (-enable-cmo-everything on top: the same binary.)
let dataPlaneSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release))]

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
        // C: a worker's free lists of small blocks, handed to nghttp2 as its allocator.
        .target(name: "CSwitchyardBlockCache"),
        // C: sixteen-byte SSE2 scans for the lines and field names of HTTP/1.1 heads.
        .target(name: "CSwitchyardHeadScan"),
        // C: OpenSSL's allocator, the worker's block cache on a worker's thread.
        .target(name: "CSwitchyardTLSHeap", dependencies: ["COpenSSL", "CSwitchyardBlockCache"]),
        // C: the BIO OpenSSL writes a connection's records into, sent from where they lie.
        .target(name: "CSwitchyardCiphertextSink", dependencies: ["COpenSSL"]),
        // `switchyard version`'s commit, from git before every build.
        .plugin(name: "BuildInfo", capability: .buildTool()),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2",
                       providers: [.apt(["libnghttp2-dev"])]),
        // Mirror comparison decodes gzip-encoded answers.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        .target(name: "SwitchyardSystem", dependencies: ["CSwitchyardShims"], swiftSettings: dataPlaneSettings),
        .target(name: "SwitchyardHTTP", dependencies: ["CNGHTTP2", "CSwitchyardBlockCache", "CSwitchyardHeadScan"], swiftSettings: dataPlaneSettings),
        .target(name: "SwitchyardRouting", swiftSettings: dataPlaneSettings),
        .target(name: "SwitchyardTLS", dependencies: ["COpenSSL", "CSwitchyardTLSHeap", "CSwitchyardCiphertextSink"], swiftSettings: dataPlaneSettings),
        // Mirror and compare: what a mirrored pair is, and comparing pairs into a report (no I/O).
        .target(name: "SwitchyardCompare", dependencies: ["CZlib", "SwitchyardRouting"]),
        .target(name: "SwitchyardProxy",
                dependencies: ["SwitchyardSystem", "SwitchyardHTTP", "SwitchyardRouting", "SwitchyardTLS", "SwitchyardCompare",
                               "CSwitchyardShims"],
                swiftSettings: dataPlaneSettings),
        .target(name: "SwitchyardAdmin",
                dependencies: ["SwitchyardProxy", "SwitchyardRouting", "SwitchyardSystem", "SwitchyardTLS", "SwitchyardCompare"]),
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

        .testTarget(name: "SwitchyardHTTPTests", dependencies: ["SwitchyardHTTP", "SwitchyardTestSupport", "CSwitchyardHeadScan"]),
        .testTarget(name: "SwitchyardCompareTests", dependencies: ["SwitchyardCompare", "SwitchyardRouting", "CZlib"]),
        .testTarget(name: "SwitchyardRoutingTests", dependencies: ["SwitchyardRouting", "SwitchyardTestSupport"]),
        .testTarget(name: "SwitchyardTLSTests", dependencies: ["SwitchyardTLS", "CSwitchyardMallocCounter", "SwitchyardTestSupport"]),
        .testTarget(name: "SwitchyardAdminTests",
                    dependencies: ["SwitchyardAdmin", "SwitchyardProxy", "SwitchyardOrigin", "SwitchyardRouting",
                                   "SwitchyardSystem", "SwitchyardTestSupport", "CSwitchyardMallocCounter", "SwitchyardCompare"]),
        .testTarget(name: "SwitchyardProxyTests",
                    dependencies: ["SwitchyardProxy", "SwitchyardOrigin", "SwitchyardRouting", "SwitchyardSystem",
                                   "SwitchyardHTTP", "SwitchyardTLS", "CSwitchyardMallocCounter", "CSwitchyardShims", "CNGHTTP2",
                                   "SwitchyardTestSupport"]),
    ]
)
