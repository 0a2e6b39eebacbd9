import Foundation
import Glibc
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

    init(routes: String = AdminHarness.routes, allowUIDs: Set<UInt32> = []) throws {
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
        proxy = try Proxy(table: table, settings: ProxySettings(workers: 2))
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

    func auditRecords() -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: auditPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func stop() {
        proxy.shutdown(graceMilliseconds: 1_000)
        legacy.stop()
        cloud.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A minimal keep-alive HTTP client for the admin tests.
final class Client {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { Glibc.close(fd); throw POSIXError(.ECONNREFUSED) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    /// GET `path`; returns status and body, or nil if the exchange failed.
    func get(_ path: String, cookie: String? = nil) -> (status: Int, body: String)? {
        let request = "GET \(path) HTTP/1.1\r\nHost: t\r\n" + (cookie.map { "Cookie: \($0)\r\n" } ?? "") + "\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else { return nil }
        // Head.
        var headEnd: Int?
        while headEnd == nil {
            if let range = findHeadEnd() { headEnd = range } else if !fill() { return nil }
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        let status = Int(head.split(separator: " ")[1]) ?? 0
        var length = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        while buffer.count < length { if !fill() { return nil } }
        let body = String(decoding: buffer[0..<length], as: UTF8.self)
        buffer.removeFirst(length)
        return (status, body)
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16384)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }
}
