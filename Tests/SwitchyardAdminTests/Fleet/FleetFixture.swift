import Foundation
import Glibc
import SwitchyardOrigin
import SwitchyardTestSupport

/// A 3-member etcd cluster, two shared backends and three Switchyards (a, b, c) in one
/// fleet, all started and synced; `shutdown()` stops everything it started.
final class FleetFixture: @unchecked Sendable {
    let directory: String
    let cluster: EtcdCluster
    let legacy: OriginServer
    let cloud: OriginServer
    let instances: [FleetInstance]
    let fleet = "clinic"
    var a: FleetInstance { instances[0] }
    var b: FleetInstance { instances[1] }
    var c: FleetInstance { instances[2] }
    var keys: String { "/switchyard/\(fleet)/" }

    /// `authentication`: etcd with auth on and tokens that expire after 1 s; the instances
    /// log in as `switchyard` with a password file.
    init(instanceNames: [String] = ["a", "b", "c"], authentication: Bool = false) throws {
        directory = NSTemporaryDirectory() + "switchyard-fleet-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o750])
        cluster = try EtcdCluster(directory: directory, extraFlags: authentication ? ["--auth-token-ttl", "1"] : [])
        if authentication { try cluster.enableAuthentication(user: "switchyard", password: "s3cret") }
        legacy = try OriginServer(name: "legacy")
        cloud = try OriginServer(name: "cloud")
        legacy.start(); cloud.start()
        let (parent, urls, legacyPort, cloudPort) = (directory, cluster.clientURLs, legacy.port, cloud.port)
        instances = try instanceNames.map {
            try FleetInstance(name: $0, parent: parent, fleet: "clinic", endpoints: urls, legacy: legacyPort, cloud: cloudPort,
                              credentials: authentication ? ("switchyard", "s3cret") : nil)
        }
        do {
            for instance in instances { try instance.start() }
            let instances = self.instances
            try waitFor("every instance to say synced", seconds: 20) { instances.allSatisfy { $0.isSynced } }
        } catch {
            shutdown()
            throw error
        }
    }

    func shutdown() {
        for instance in instances { instance.stop() }
        cluster.stopAll()
        legacy.stop(); cloud.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The store's state document.
    func storeState() throws -> [String: Any] {
        let text = try require2(try cluster.get(keys + "state"), "the state key")
        return try require2((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any], "a JSON state")
    }
}

extension FleetInstance {
    var isSynced: Bool { command("status").contains(", instance \(name): synced") }
}

/// `#require` for helpers outside a test: throws a precondition naming `what`.
func require2<T>(_ value: T?, _ what: String) throws -> T {
    guard let value else { throw TestPrecondition("missing: \(what)") }
    return value
}
