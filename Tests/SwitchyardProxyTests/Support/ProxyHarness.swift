import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardOrigin
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardSystem

/// A proxy on 127.0.0.1 port 0 in front of real origin servers, for one test.
final class ProxyHarness: @unchecked Sendable {
    let legacy: OriginServer
    let cloud: OriginServer
    let proxy: Proxy
    let port: UInt16
    let accessLogPath: String

    /// `routes` may use `LEGACY` and `CLOUD` for the origins' ports, `:DEAD` for a port
    /// where nothing listens, and `ACCESSLOG` for the access log's path. Without a `listen` line, one is added.
    init(routes: String = ProxyHarness.simpleRoutes, workers: Int = 1, errorLog: ErrorLog = .standardError,
         settings: ((inout ProxySettings) -> Void)? = nil) throws {
        legacy = try OriginServer(name: "legacy")
        cloud = try OriginServer(name: "cloud")
        legacy.start()
        cloud.start()
        accessLogPath = NSTemporaryDirectory() + "switchyard-test-\(UUID().uuidString).log"
        var text = routes
            .replacingOccurrences(of: "LEGACY", with: "\(legacy.port)")
            .replacingOccurrences(of: "CLOUD", with: "\(cloud.port)")
            // With its colon: a bare "DEAD" also turns up in the hex of a temporary path's
            // UUID (a CA file's, for one), which the replacement then broke now and then.
            .replacingOccurrences(of: ":DEAD", with: ":\(ProxyHarness.deadPort())")
            .replacingOccurrences(of: "ACCESSLOG", with: accessLogPath)
        if !text.contains("listen http") { text = "listen http 127.0.0.1:0\naccess-log \(accessLogPath)\n" + text }
        let config = try RoutesConfig.parse(text, file: "test.routes")
        let table = try RouteTable.build(config: config, state: RuntimeState(), generation: 1)
        var s = ProxySettings(workers: workers)
        settings?(&s)
        proxy = try Proxy(table: table, settings: s, errorLog: errorLog)
        proxy.start()
        port = proxy.httpAddresses.first?.port ?? 0
    }

    /// For tests that count allocations per request: a pause of the test's client on a
    /// loaded machine must not reduce its connection to an `IdleTable` entry (allocations
    /// that belong to no request).
    static let noIdleReduction: @Sendable (inout ProxySettings) -> Void = { $0.idleReductionMilliseconds = .max }

    /// One backend, the test's own server on `port`, and one route to it.
    static func routes(toOriginAt port: UInt16) -> String {
        """
        backend legacy {
            server 127.0.0.1:\(port)
        }
        route app {
            backend legacy
        }
        """
    }

    /// One h2c listener (prior-knowledge HTTP/2 on plain TCP), one backend, one route.
    static let h2cRoutes = """
        listen http 127.0.0.1:0 h2c
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        route app {
            backend legacy
        }
        """

    static let simpleRoutes = """
        generation-header X-Switchyard-Generation
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            backend legacy
        }
        route auth {
            path /auth/
            active cloud standby legacy
        }
        """

    func client(timeoutSeconds: Int = 10) throws -> TestClient { try TestClient(port: port, timeoutSeconds: timeoutSeconds) }

    /// Shuts the proxy down (2 s grace) and stops the origins. A shutdown that has not
    /// finished 30 s later fails the test instead of hanging the suite.
    func stop() {
        let proxy = proxy
        let stopped = DispatchSemaphore(value: 0)
        Thread { proxy.shutdown(graceMilliseconds: 2_000); stopped.signal() }.start()
        if stopped.wait(timeout: .now() + 30) == .timedOut {
            Issue.record("the proxy's shutdown did not finish within 30 s")
        }
        legacy.stop()
        cloud.stop()
    }

    deinit { try? FileManager.default.removeItem(atPath: accessLogPath) }

    /// A loopback port where connects are refused: a socket bound to it but never listening.
    /// It stays bound for the life of the test process, so no other test's listener can be
    /// given the port (tests run in parallel).
    static func deadPort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = SocketAddress(ip: "127.0.0.1", port: 0)!
        _ = withUnsafePointer(to: &address.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, address.length) }
        }
        return try! Socket.localAddress(FileDescriptor(rawValue: fd)).port
    }
}

/// Resident memory of this process in KiB (from /proc/self/statm).
func residentKiB() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
}
