import Foundation
import Testing
import SwitchyardAdmin
import SwitchyardRouting
import SwitchyardTestSupport

/// `mirror ROUTE BACKEND PCT` and `mirror ROUTE off` on a real proxy with real origins:
/// through the commit path (a generation, the state file, the audit log), shown in
/// `status`, kept across a restart; bad input is refused in one line and changes nothing.
@Suite struct MirrorCommandTests {
    static let routes = """
        listen http 127.0.0.1:0
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            backend legacy
            sticky header X-User
        }
        """

    @Test func mirrorStartsAndStopsCopiesAndIsAuditedSavedAndShown() throws {
        let h = try AdminHarness(routes: Self.routes, workers: 1)
        defer { h.stop() }
        let client = try TestClient(port: h.port)
        #expect(client.get("/before", headers: "X-User: a\r\n")?.status == 200)
        let on = h.run("mirror app cloud 100% --reason CHG-9")
        #expect(on.ok, "\(on.text)")
        #expect(on.text.contains("app mirror off → cloud 100.00%"), "\(on.text)")
        #expect(h.run("status").text.contains("app (http): active legacy; mirror cloud 100.00%"), "\(h.run("status").text)")
        #expect(h.run("show routes").text.contains("    mirror cloud 100.00%"))
        #expect(client.get("/during", headers: "X-User: a\r\n")?.text.hasPrefix("legacy answered GET /during") == true)
        try waitFor("the copy", seconds: 5) { h.cloud.requestHeads.count == 1 }
        #expect(h.cloud.requestHeads[0].hasPrefix("GET /during") && h.cloud.requestHeads[0].contains("X-Switchyard-Mirror: 1"))
        // The copy's sample, if it is ready; one request in a hundred also gets a noise copy
        // to the primary side (the route's default noise share), a second sample not counted here.
        #expect(h.proxy.drainMirrorSamples().filter { $0.target == "cloud" }.count <= 1)
        try waitFor("the copy to end", seconds: 5) { h.proxy.mirrorSnapshot().total.inFlight == 0 }
        #expect(h.run("status").text.contains("cloud: sent 1, answered 1, dropped 0, failed 0, in flight 0"), "\(h.run("status").text)")

        let saved = try String(contentsOfFile: h.statePath, encoding: .utf8)
        #expect(saved.contains("\"mirror\""), "the setting is in the state file: \(saved)")
        let record = try #require(h.auditRecords().last)
        #expect(record["command"] as? String == "mirror app cloud 100% --reason CHG-9" || record["command"] as? String == "mirror app cloud 100%")
        #expect(record["reason"] as? String == "CHG-9")
        #expect((record["changes"] as? [String])?.contains("app mirror off → cloud 100.00%") == true)

        // What a restart would load: the state file over the routes file.
        let (restarted, _, _) = try AdminService.startingTable(config: try RoutesConfig.load(path: h.routesPath), statePath: h.statePath)
        #expect(restarted.routes[0].mirror?.backend == "cloud" && restarted.routes[0].mirror?.basisPoints == 10_000)

        let off = h.run("mirror app off")
        #expect(off.ok && off.text.contains("app mirror cloud 100.00% → off"), "\(off.text)")
        #expect(client.get("/after", headers: "X-User: a\r\n")?.status == 200)
        usleep(200_000)
        #expect(h.cloud.requestHeads.count == 1, "no copy after off")
        #expect(!h.run("status").text.contains("mirror cloud"))
    }

    @Test func badMirrorCommandsAreRefusedInOneLineAndChangeNothing() throws {
        let h = try AdminHarness(routes: Self.routes, workers: 1)
        defer { h.stop() }
        let generation = h.proxy.table.generation
        let cases: [(String, String)] = [
            ("mirror app nowhere 5%", "unknown backend \"nowhere\""),
            ("mirror app cloud 150%", "outside 0%…100%"),
            ("mirror app cloud 0%", "use mirror app off"),
            ("mirror app cloud 5", "with %"),
            ("mirror app cloud lots", "is not a percentage"),
            ("mirror nosuch cloud 5%", "unknown route \"nosuch\""),
            ("mirror app", "usage: mirror ROUTE BACKEND PCT"),
            ("mirror app off", "is not mirrored"),
            ("mirror app on", "is not off"),
            // legacy serves every request of app: nothing would ever be copied to it.
            ("mirror app legacy 100%", "backend legacy serves every request of route app"),
        ]
        for (line, fragment) in cases {
            let answer = h.run(line)
            #expect(!answer.ok, "\(line) was accepted")
            #expect(answer.text.contains(fragment), "\(line): \(answer.text)")
            #expect(!answer.text.contains("\n"), "\(line): one line")
        }
        #expect(h.proxy.table.generation == generation, "nothing changed")
        #expect(h.proxy.table.routes[0].mirror == nil)
        #expect(h.run("mirror app cloud 5%").ok)
        let again = h.run("mirror app cloud 5%")
        #expect(!again.ok && again.text.contains("already mirrors 5.00% to cloud"), "\(again.text)")
        // A weight since makes the target the serving side: status says the mirror is idle.
        #expect(h.run("weight app cloud 100%").ok)
        let status = h.run("status").text
        #expect(status.contains("mirror cloud 5.00% (sends nothing: cloud serves every request)"), "\(status)")
    }
}
