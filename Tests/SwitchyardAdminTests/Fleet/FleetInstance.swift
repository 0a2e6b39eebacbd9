import Foundation
import Glibc
import SwitchyardTestSupport

/// One `switchyard serve` process in a fleet: its own folder, listener and admin socket,
/// the backends shared with the others.
final class FleetInstance: @unchecked Sendable {
    let name: String
    let directory: String
    let routesPath: String
    private(set) var process: SwitchyardProcess?
    var admin: String { directory + "/admin.sock" }

    init(name: String, parent: String, fleet: String, endpoints: [String], legacy: UInt16, cloud: UInt16,
         credentials: (user: String, password: String)? = nil) throws {
        self.name = name
        directory = parent + "/" + name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o750])
        routesPath = directory + "/fleet.routes"
        var login = ""
        if let credentials {
            try (credentials.password + "\n").write(toFile: directory + "/etcd.pw", atomically: true, encoding: .utf8)
            login = " user \(credentials.user) password-file \(directory)/etcd.pw"
        }
        try """
        listen http 127.0.0.1:0
        admin \(directory)/admin.sock
        state \(directory)/state.json
        metrics 127.0.0.1:0
        fleet \(fleet) etcd \(endpoints.joined(separator: " ")) instance \(name)\(login)
        backend legacy {
            server 127.0.0.1:\(legacy)
        }
        backend cloud {
            server 127.0.0.1:\(cloud)
        }
        route app {
            active legacy standby cloud
        }
        route other {
            path /other/
            split legacy 90% cloud 10%
        }
        """.write(toFile: routesPath, atomically: true, encoding: .utf8)
    }

    /// Starts the process and waits for its admin socket to answer.
    func start() throws {
        try? FileManager.default.removeItem(atPath: directory + "/error.log")
        // `fleet forget` waits 10 minutes after an instance was last seen: 2 s here.
        let process = try SwitchyardProcess(routesPath: routesPath, errorLogPath: directory + "/error.log", arguments: ["--workers", "1"],
                                            environment: ["SWITCHYARD_FORGET_AFTER_MS_FOR_TESTING": "2000"])
        self.process = process
        let admin = admin
        try waitFor("\(name)'s admin socket to answer", seconds: 15) {
            ServeProcessTests.command(admin, "help") != nil || !process.process.isRunning
        }
        guard process.process.isRunning else { throw TestPrecondition("\(name) exited: \(process.errorLog)") }
    }

    func port() throws -> UInt16 { try listeningPort(errorLog: directory + "/error.log") }

    func command(_ line: String) -> String { ServeProcessTests.command(admin, line) ?? "(no answer)" }

    /// The generation `status` says this instance serves.
    func generation() -> UInt64? {
        let status = command("status")
        guard let line = status.split(separator: "\n").first, line.hasPrefix("generation ") else { return nil }
        return UInt64(line.dropFirst("generation ".count))
    }

    /// Which backend answers `path` on this instance's listener (the origin names itself).
    func answeredBy(_ path: String = "/") -> String? {
        guard let port = try? port(), let client = try? TestClient(port: port), let response = client.get(path),
              response.status == 200 else { return nil }
        return String(response.text.split(separator: " ").first ?? "")
    }

    var errorLog: String { process?.errorLog ?? "" }

    /// The port of the read-only admin HTTP listener (the cutover page), from the error log.
    var pagePort: UInt16? {
        guard let range = errorLog.range(of: "cutover page on http://127.0.0.1:") else { return nil }
        return UInt16(errorLog[range.upperBound...].prefix { $0.isNumber })
    }

    /// The body of `GET path` on the read-only admin HTTP listener (`/metrics`, `/status.json`).
    func adminHTTP(_ path: String) -> String? {
        guard let port = pagePort, let client = try? TestClient(port: port) else { return nil }
        // The listener answers only to its own address as Host (no DNS rebinding).
        guard client.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n"), let response = client.readResponse() else { return nil }
        return response.text
    }

    func kill9() { process?.kill9() }
    func stop() { process?.stop() }
}
