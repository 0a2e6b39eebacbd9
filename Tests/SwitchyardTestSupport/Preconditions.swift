import Foundation
import Glibc

/// Why a test could not do its work: a tool is missing, it needs root, a wait ran out, a
/// child process hung. Thrown from a test it fails the test with this message — a test never
/// passes or skips silently because its ground was missing.
public struct TestPrecondition: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The Debian package that brings each tool the tests run.
private let packageOf = ["curl": "curl", "nghttp": "nghttp2-client", "h2load": "nghttp2-client", "openssl": "openssl",
                         "setpriv": "util-linux", "socat": "socat", "sh": "dash", "chromium": "chromium",
                         "promtool": "prometheus", "prometheus": "prometheus",

                         "systemd-analyze": "systemd", "lintian": "lintian", "dpkg-deb": "dpkg", "man": "man-db",
                         "wrk": "wrk", "make": "make", "etcd": "etcd-server", "etcdctl": "etcd-client"]

/// The full path of `name`, found on `PATH` (not a hard-coded /usr/bin); throws
/// "install …" when it is not there.
public func tool(_ name: String) throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") where !directory.isEmpty {
        let candidate = "\(directory)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    let package = packageOf[name] ?? name
    throw TestPrecondition("\(name) is not on PATH: install \(package) (apt-get install -y \(package)), `make test` does it")
}

/// Fails with "install …" unless every tool is on `PATH`.
public func requireTools(_ names: String...) throws {
    for name in names { _ = try tool(name) }
}

/// `name` resolved on `PATH`, or `name` itself (a later run then fails, naming it).
public func toolPath(_ name: String) -> String { (try? tool(name)) ?? name }

/// True when the test can run with root's powers, or when it must try anyway: under
/// `CI=true` a test that needs root is never skipped, it fails in `requireRoot`.
public var rootOrCI: Bool { geteuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true" }

/// Fails unless the process is root (`why`: what root is needed for).
public func requireRoot(_ why: String) throws {
    guard geteuid() == 0 else { throw TestPrecondition("this test needs root (\(why)): run the tests as root") }
}

/// The `switchyard` executable of the build these tests belong to: the one next to the
/// test bundle (so `make tsan` runs its own ThreadSanitizer build, not .build/debug), or
/// `$SWITCHYARD_BIN`. Fails, saying how to build it, when it is missing.
public func switchyardBinary() throws -> String {
    if let explicit = ProcessInfo.processInfo.environment["SWITCHYARD_BIN"], !explicit.isEmpty {
        guard access(explicit, X_OK) == 0 else { throw TestPrecondition("SWITCHYARD_BIN=\(explicit) is not an executable") }
        return explicit
    }
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = me.deletingLastPathComponent()
    // On Linux the bundle is an executable in the build folder; elsewhere a bundle directory.
    while directory.path != "/" {
        let candidate = directory.appendingPathComponent("switchyard").path
        if access(candidate, X_OK) == 0 && !FileManager.default.isDirectory(candidate) { return candidate }
        if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent(); continue }
        break
    }
    throw TestPrecondition("no switchyard executable next to \(me.path): run `swift build` (with the same flags as the tests) first")
}

private extension FileManager {
    func isDirectory(_ path: String) -> Bool {
        var flag: ObjCBool = false
        return fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
    }
}

// MARK: waiting with a deadline

/// Polls `condition` every 10 ms until it holds or `seconds` pass; whether it held.
public func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// Like `waitUntil`, but a condition that never held fails the test, saying what it waited for.
public func waitFor(_ what: String, seconds: Double, _ condition: () -> Bool) throws {
    guard waitUntil(seconds, condition) else { throw TestPrecondition("gave up after \(seconds) s waiting for \(what)") }
}

extension DispatchSemaphore {
    /// Waits at most `seconds`; a timeout fails the test, saying what it waited for.
    public func wait(seconds: Double, for what: String) throws {
        if wait(timeout: .now() + seconds) == .timedOut { throw TestPrecondition("gave up after \(seconds) s waiting for \(what)") }
    }
}

extension DispatchGroup {
    /// Waits at most `seconds`; a timeout fails the test, saying what it waited for.
    public func wait(seconds: Double, for what: String) throws {
        if wait(timeout: .now() + seconds) == .timedOut { throw TestPrecondition("gave up after \(seconds) s waiting for \(what)") }
    }
}

// MARK: seeds

/// The seed of a randomised test: `$TEST_SEED` when set (to replay a failure), otherwise
/// `fallback`. Tests put it in their failure messages.
public func testSeed(_ fallback: UInt64) -> UInt64 {
    ProcessInfo.processInfo.environment["TEST_SEED"].flatMap { UInt64($0) } ?? fallback
}

/// The repository's root: the nearest folder above the calling source file that holds
/// Package.swift (the README, routes/ and Tests/ are read from there).
public func repositoryRoot(file: String = #filePath) -> URL {
    var directory = URL(fileURLWithPath: file).deletingLastPathComponent()
    while directory.path != "/" && !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
        directory.deleteLastPathComponent()
    }
    return directory
}
