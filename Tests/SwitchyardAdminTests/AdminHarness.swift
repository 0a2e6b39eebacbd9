import Foundation
import Glibc
import Testing
import SwitchyardAdmin
import SwitchyardOrigin
import SwitchyardProxy
import SwitchyardRouting

/// A proxy with its admin service and real origins, in a private temporary directory.
final class AdminHarness: @unchecked Sendable {
    let legacy: OriginServer
    let cloud: OriginServer
    let proxy: Proxy
    let service: AdminService
    let directory: String
    let routesPath: String
    var port: UInt16 { proxy.httpAddresses[0].port }
    var statePath: String { directory + "/state.json" }
    var auditPath: String { directory + "/audit.log" }

    static let routes = """
        listen http 127.0.0.1:0
        generation-header X-Switchyard-Generation
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            split legacy 90% cloud 10%
            sticky cookie SWITCHYARD_BUCKET
        }
        route auth {
            path /auth/
            active legacy standby cloud
        }
        """

    init(routes: String = AdminHarness.routes, allowUIDs: Set<UInt32> = [], workers: Int = 2,
         settings: ((inout ProxySettings) -> Void)? = nil) throws {
        legacy = try OriginServer(name: "legacy")
        cloud = try OriginServer(name: "cloud")
        legacy.start()
        cloud.start()
        directory = NSTemporaryDirectory() + "switchyard-admin-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        routesPath = directory + "/test.routes"
        let text = routes.replacingOccurrences(of: "LEGACY", with: "\(legacy.port)").replacingOccurrences(of: "CLOUD", with: "\(cloud.port)")
        try text.write(toFile: routesPath, atomically: true, encoding: .utf8)
        let config = try RoutesConfig.load(path: routesPath)
        let (table, warnings, restored) = try AdminService.startingTable(config: config, statePath: directory + "/state.json")
        var proxySettings = ProxySettings(workers: workers)
        settings?(&proxySettings)
        proxy = try Proxy(table: table, settings: proxySettings)
        service = try AdminService(routesPath: routesPath, config: config, statePath: directory + "/state.json",
                                   auditPath: directory + "/audit.log",
                                   policy: AccessPolicy(serviceUID: geteuid(), allowedUIDs: allowUIDs, allowedGIDs: []),
                                   dataPlane: proxy, restored: restored, startWarnings: warnings, errorLog: .standardError)
        proxy.start()
    }

    static let root = Caller(uid: 0, gid: 0, pid: 1, userName: "root")

    /// Runs a command as root; returns the answer text.
    @discardableResult
    func run(_ line: String, as caller: Caller = AdminHarness.root) -> (ok: Bool, text: String) {
        let (answer, _) = service.execute(line, caller: caller)
        return (answer.ok, answer.text)
    }

    /// A second admin service on the same proxy and files, built as a restart builds it:
    /// the routes file and the state file read again (the first service is left idle).
    @discardableResult
    func restartedService() throws -> AdminService {
        try AdminService(routesPath: routesPath, config: try RoutesConfig.load(path: routesPath), statePath: statePath,
                         auditPath: auditPath, policy: AccessPolicy(serviceUID: geteuid(), allowedUIDs: [], allowedGIDs: []),
                         dataPlane: proxy, restored: try StateFile.load(path: statePath), startWarnings: [], errorLog: .standardError)
    }

    func auditRecords() -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: auditPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Shuts the proxy down (1 s grace), stops the origins and removes the directory. A
    /// shutdown that has not finished 30 s later fails the test instead of hanging the suite.
    func stop() {
        let proxy = proxy
        let stopped = DispatchSemaphore(value: 0)
        Thread { proxy.shutdown(graceMilliseconds: 1_000); stopped.signal() }.start()
        if stopped.wait(timeout: .now() + 30) == .timedOut {
            Issue.record("the proxy's shutdown did not finish within 30 s")
        }
        legacy.stop()
        cloud.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
