import Foundation
import Glibc
import SwitchyardTestSupport

/// A real 3-member etcd cluster on loopback, started by the test: free ports, data under
/// the test's own folder. Members can be stopped, killed and started again (same data).
final class EtcdCluster: @unchecked Sendable {
    struct Member {
        let name: String
        let clientPort: UInt16
        let peerPort: UInt16
        var clientURL: String { "http://127.0.0.1:\(clientPort)" }
        var peerURL: String { "http://127.0.0.1:\(peerPort)" }
    }

    let directory: String
    let members: [Member]
    private var processes: [Process?]
    private let token = "switchyard-test-\(UUID().uuidString.prefix(8))"

    var clientURLs: [String] { members.map(\.clientURL) }
    var endpointsArgument: String { clientURLs.joined(separator: ",") }

    /// Added to every member's flags (e.g. `--auth-token-ttl 1`).
    let extraFlags: [String]
    /// `root:PASSWORD` once authentication is on (etcdctl then needs it).
    var rootUser: String?

    init(directory: String, size: Int = 3, extraFlags: [String] = []) throws {
        try requireTools("etcd", "etcdctl")
        self.directory = directory
        self.extraFlags = extraFlags
        members = (0..<size).map { Member(name: "m\($0)", clientPort: freePort(), peerPort: freePort()) }
        processes = Array(repeating: nil, count: size)
        for index in members.indices { try start(index) }
        try waitFor("etcd to elect a leader and answer", seconds: 30) { self.healthy() }
    }

    /// The flags every member runs with (the README quotes them).
    func arguments(_ index: Int) -> [String] {
        let member = members[index]
        let cluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        return ["--name", member.name, "--data-dir", "\(directory)/\(member.name).etcd",
                "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
                "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.peerURL,
                "--initial-cluster", cluster, "--initial-cluster-token", token, "--initial-cluster-state", "new",
                "--heartbeat-interval", "50", "--election-timeout", "500"] + extraFlags
    }

    func start(_ index: Int) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try tool("etcd"))
        process.arguments = arguments(index)
        let log = "\(directory)/\(members[index].name).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        processes[index] = process
    }

    /// SIGTERM (or SIGKILL) and reap.
    func stop(_ index: Int, kill9: Bool = false) {
        guard let process = processes[index], process.isRunning else { return }
        kill(process.processIdentifier, kill9 ? SIGKILL : SIGTERM)
        process.waitUntilExit()
        processes[index] = nil
    }

    /// SIGSTOP / SIGCONT: a frozen member keeps its sockets open and answers nothing, the
    /// way a hung host or a black-holed network looks.
    func freeze(_ index: Int, _ frozen: Bool) {
        guard let process = processes[index], process.isRunning else { return }
        kill(process.processIdentifier, frozen ? SIGSTOP : SIGCONT)
    }

    func stopAll() { for index in members.indices { stop(index, kill9: true) } }

    /// etcdctl against the whole cluster; its output.
    @discardableResult
    func etcdctl(_ arguments: [String]) throws -> String {
        let user = rootUser.map { ["--user", $0] } ?? []
        let (status, output) = try runProcess(try tool("etcdctl"), ["--endpoints", endpointsArgument, "--command-timeout", "3s"] + user + arguments,
                                              timeoutSeconds: 20)
        guard status == 0 else { throw TestPrecondition("etcdctl \(arguments.joined(separator: " ")) failed: \(output)") }
        return output
    }

    func healthy() -> Bool {
        guard let (status, _) = try? runProcess(toolPath("etcdctl"), ["--endpoints", endpointsArgument, "--command-timeout", "1s"]
                                                + (rootUser.map { ["--user", $0] } ?? []) + ["put", "/health-probe", "1"],
                                                timeoutSeconds: 10) else { return false }
        return status == 0
    }

    /// Turns authentication on: root, and `user` with read-write on `/switchyard/` only.
    func enableAuthentication(user: String, password: String) throws {
        try etcdctl(["user", "add", "root:rootpw"])
        try etcdctl(["user", "add", "\(user):\(password)"])
        try etcdctl(["role", "add", "switchyard"])
        try etcdctl(["role", "grant-permission", "switchyard", "--prefix=true", "readwrite", "/switchyard/"])
        try etcdctl(["user", "grant-role", user, "switchyard"])
        try etcdctl(["auth", "enable"])
        rootUser = "root:rootpw"
    }

    /// The index of the member that leads now (asked through etcdctl endpoint status).
    func leader() throws -> Int {
        let output = try etcdctl(["endpoint", "status", "-w", "json"])
        guard let list = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [[String: Any]] else {
            throw TestPrecondition("endpoint status is not JSON: \(output)")
        }
        for entry in list {
            guard let endpoint = entry["Endpoint"] as? String, let status = entry["Status"] as? [String: Any],
                  let header = status["header"] as? [String: Any], let member = (header["member_id"] as? NSNumber)?.uint64Value,
                  let leader = (status["leader"] as? NSNumber)?.uint64Value, member == leader else { continue }
            if let index = members.firstIndex(where: { $0.clientURL == endpoint }) { return index }
        }
        throw TestPrecondition("no member says it leads: \(output)")
    }

    /// The value of `key`, or nil.
    func get(_ key: String) throws -> String? {
        let output = try etcdctl(["get", key, "--print-value-only"])
        return output.isEmpty ? nil : String(output.dropLast(output.hasSuffix("\n") ? 1 : 0))
    }

    /// The keys under `prefix`.
    func keys(_ prefix: String) throws -> [String] {
        try etcdctl(["get", "--prefix", prefix, "--keys-only"]).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    /// The values under `prefix`, as JSON objects.
    func objects(_ prefix: String) throws -> [[String: Any]] {
        try etcdctl(["get", "--prefix", prefix, "--print-value-only"]).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }
}

/// A port nothing listens on right now (bound, read, closed).
func freePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return UInt16(bigEndian: address.sin_port)
}
