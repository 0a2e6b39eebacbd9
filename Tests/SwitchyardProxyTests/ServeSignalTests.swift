import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardOrigin

/// `switchyard serve` as a process receiving real signals: SIGTERM drains (HTTP/1.1 answers
/// carry Connection: close, HTTP/2 gets GOAWAY, requests in flight finish, exit 0) and
/// SIGHUP reloads the routes file (an invalid one changes nothing).
@Suite struct ServeSignalTests {
    final class Setup {
        let legacy: OriginServer
        let cloud: OriginServer
        let directory: String
        var routesPath: String { directory + "/serve.routes" }

        let admin: Bool

        init(admin: Bool = true) throws {
            self.admin = admin
            legacy = try OriginServer(name: "legacy")
            cloud = try OriginServer(name: "cloud")
            legacy.start(); cloud.start()
            directory = NSTemporaryDirectory() + "switchyard-signals-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            try routes().write(toFile: routesPath, atomically: true, encoding: .utf8)
        }

        func routes(extra: String = "", before: String = "") -> String {
            """
            \(before)
            listen http 127.0.0.1:0 h2c
            \(admin ? "admin \(directory)/admin.sock" : "")
            \(admin ? "state \(directory)/state.json" : "")
            backend legacy {
                server 127.0.0.1:\(legacy.port)
            }
            backend cloud {
                server 127.0.0.1:\(cloud.port)
            }
            route app {
                backend legacy
            }
            \(extra)
            """
        }

        func serve(_ arguments: [String] = []) throws -> (SwitchyardProcess, UInt16) {
            let process = try SwitchyardProcess(routesPath: routesPath, errorLogPath: directory + "/error.log",
                                                arguments: ["--workers", "1"] + arguments)
            do {
                return (process, try listeningPort(errorLog: directory + "/error.log"))
            } catch {
                process.stop()
                throw error
            }
        }

        deinit {
            legacy.stop(); cloud.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    @Test func sigtermDrainsHTTP1AndHTTP2AndExitsZero() throws {
        let setup = try Setup()
        let (served, port) = try setup.serve(["--grace", "10"])
        defer { served.stop() }
        let idle = try TestClient(port: port)
        #expect(idle.get("/warm")?.status == 200)
        let busy = try TestClient(port: port)
        busy.send("GET /slow?ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n")
        let h2 = try H2FrameClient(port: port)
        h2.request(stream: 1, path: "/slow?ms=1500")
        try waitFor("both slow requests to reach the origin", seconds: 10) {
            setup.legacy.requestHeads.filter { $0.hasPrefix("GET /slow") }.count == 2
        }
        served.signal(SIGTERM)

        let answer = try #require(busy.readResponse(), "the HTTP/1.1 request in flight is answered")
        #expect(answer.status == 200 && answer.text == "legacy answered slowly\n")
        #expect(answer.header("Connection") == "close", "a draining proxy says Connection: close")
        #expect(busy.readToEnd().isEmpty, "and closes")

        let stream = try #require(h2.response(stream: 1), "the HTTP/2 stream in flight is answered")
        #expect(stream.status == 200 && stream.text == "legacy answered slowly\n")
        _ = h2.readUntilClosed()
        #expect(H2FrameClient.goAwayCode(h2.history) == 0, "GOAWAY NO_ERROR")
        #expect(h2.closedByServer)

        #expect(try served.waitForExit(seconds: 15) == 0, "exit status 0 after the drain")
        #expect(served.errorLog.contains("shutting down") && served.errorLog.contains("stopped"), "\(served.errorLog)")
        #expect(idle.readToEnd().isEmpty, "the idle keep-alive connection was closed")
        #expect(throws: (any Error).self, "nothing listens any more") { _ = try TestClient(port: port) }
    }

    @Test func sighupReloadsTheRoutesFileAndARefusedFileChangesNothing() throws {
        let setup = try Setup()
        let (served, port) = try setup.serve()
        defer { served.stop() }
        let client = try TestClient(port: port)
        #expect(client.get("/extra/x")?.text == "legacy answered GET /extra/x\n")

        try setup.routes(extra: "route extra {\n    path /extra/\n    backend cloud\n}\n")
            .write(toFile: setup.routesPath, atomically: true, encoding: .utf8)
        served.signal(SIGHUP)
        var text = ""
        #expect(waitUntil(10) {
            text = client.get("/extra/x")?.text ?? ""
            return text.hasPrefix("cloud")
        }, "after SIGHUP the new route serves, on an open connection: \(text)")
        // The log line follows the swap: wait for it rather than race it.
        #expect(waitUntil(10) { served.errorLog.contains("reloaded") }, "\(served.errorLog)")

        // A broken file: refused, reported, nothing changes.
        try (setup.routes() + "\nroute broken {\n    backend clowd\n}\n").write(toFile: setup.routesPath, atomically: true, encoding: .utf8)
        served.signal(SIGHUP)
        try waitFor("the refusal in the error log", seconds: 10) { served.errorLog.contains("clowd") }
        #expect(client.get("/extra/x")?.text == "cloud answered GET /extra/x\n", "the refused file changed nothing")
        #expect(served.process.isRunning, "a bad reload does not stop the proxy")
    }

    /// Without an admin line SIGHUP reloads in `serve` itself; it used to skip the admin
    /// reload's rules: a `listen` line inserted above the bound one (options are found by
    /// position) lent it its `proxy-protocol`, and every plain client was refused. Now
    /// refused as the admin side refuses it; a route change still applies.
    @Test func sighupWithoutAnAdminSocketRefusesAListenerChangeToo() throws {
        let setup = try Setup(admin: false)
        let (served, port) = try setup.serve()
        defer { served.stop() }
        let client = try TestClient(port: port)
        try setup.routes(extra: "route extra {\n    path /extra/\n    backend cloud\n}\n", before: "listen http 127.0.0.1:0 proxy-protocol")
            .write(toFile: setup.routesPath, atomically: true, encoding: .utf8)
        served.signal(SIGHUP)
        try waitFor("the refusal in the error log", seconds: 10) { served.errorLog.contains("listeners are bound at start") }
        #expect(served.errorLog.contains("serve.routes:"), "\(served.errorLog)")
        #expect(client.get("/extra/x")?.text == "legacy answered GET /extra/x\n", "nothing changed")
        #expect(try TestClient(port: port).get("/x")?.status == 200, "a new plain connection is served as before")

        try setup.routes(extra: "route extra {\n    path /extra/\n    backend cloud\n}\n").write(toFile: setup.routesPath, atomically: true, encoding: .utf8)
        served.signal(SIGHUP)
        #expect(waitUntil(10) { client.get("/extra/x")?.text.hasPrefix("cloud") == true }, "the route change applies")
    }
}
