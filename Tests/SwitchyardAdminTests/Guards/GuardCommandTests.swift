import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin
import SwitchyardRouting

/// Guards at run time over the admin commands: bad ones refused in one line with nothing
/// changed; a freeze guard added at run time trips fast on transport failures (a cloud
/// server that refuses connections), refuses raises until acknowledged, and shows in
/// `status`, `/status.json` and `/metrics`; its latch is in the state file.
@Suite(.serialized) struct GuardCommandTests {
    static let routes = """
        listen http 127.0.0.1:0
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:1
        }
        route app {
            split legacy 80% cloud 20%
            sticky header X-User
        }
        route db {
            mode tcp
            listen 127.0.0.1:0
            active legacy
        }
        """

    /// A guard command refused because its state file or its audit line could not be
    /// written leaves no guard behind: one kept in memory would still trip and revert traffic
    /// under an answer that said it was refused.
    @Test func aGuardCommandThatCannotBeRecordedChangesNothing() throws {
        let h = try AdminHarness(routes: Self.routes)
        defer { h.stop() }
        let stateBefore = try String(contentsOfFile: h.statePath, encoding: .utf8)
        // The state file cannot be replaced: its temporary name is taken by a directory.
        let blocker = h.statePath + ".tmp.\(getpid())"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
        let add = h.run("guard app add e errors new cloud old legacy freeze")
        #expect(!add.ok && add.text.contains("cannot write"), "\(add.text)")
        #expect(h.run("guards").text == "no guards")
        try FileManager.default.removeItem(atPath: blocker)
        // The state file is written, then the audit line cannot be: the file is put back too.
        let audit = try String(contentsOfFile: h.auditPath, encoding: .utf8)
        try FileManager.default.removeItem(atPath: h.auditPath)
        try FileManager.default.createDirectory(atPath: h.auditPath, withIntermediateDirectories: false)
        let again = h.run("guard app add e errors new cloud old legacy freeze")
        #expect(!again.ok, "\(again.text)")
        #expect(h.run("guards").text == "no guards")
        #expect(try String(contentsOfFile: h.statePath, encoding: .utf8) == stateBefore, "the state file is as before")
        try FileManager.default.removeItem(atPath: h.auditPath)
        try audit.write(toFile: h.auditPath, atomically: false, encoding: .utf8)
        // With both writable again the same command is accepted.
        #expect(h.run("guard app add e errors new cloud old legacy freeze").ok)
        #expect(h.run("guards").text.contains("app e: errors cloud vs legacy, freeze"))
    }

    /// A reload that would give the file a guard of the same route and name as one added at
    /// run time is refused in one line, naming the way out; nothing changes. Before, both
    /// were checked against one run and one latch (each check counted twice), and /metrics
    /// showed the guard's series twice, which Prometheus refuses.
    @Test func aReloadThatDuplicatesARuntimeGuardIsRefused() throws {
        let h = try AdminHarness(routes: Self.routes)
        defer { h.stop() }
        #expect(h.run("guard app add e5 errors new cloud old legacy revert").ok)
        let before = h.proxy.table.generation
        let withGuard = Self.routes.replacingOccurrences(of: "127.0.0.1:LEGACY", with: "127.0.0.1:\(h.legacy.port)")
            .replacingOccurrences(of: "sticky header X-User\n", with: "sticky header X-User\n    guard e5 errors new cloud old legacy freeze\n")
        try withGuard.write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        let reload = h.run("reload")
        #expect(!reload.ok && reload.text.contains("guard app remove e5"), "\(reload.text)")
        #expect(h.proxy.table.generation == before, "nothing changed")
        #expect(h.run("guards").text.components(separatedBy: "app e5:").count == 2, "one guard e5: \(h.run("guards").text)")
        // The way out: remove the runtime one, then the reload goes through.
        #expect(h.run("guard app remove e5").ok)
        #expect(h.run("reload").ok)
        #expect(h.run("guards").text.contains("freeze"), "the file's guard is in force")
    }

    @Test func badGuardCommandsAreRefusedInOneLineAndChangeNothing() throws {
        let h = try AdminHarness(routes: Self.routes)
        defer { h.stop() }
        let stateBefore = try String(contentsOfFile: h.statePath, encoding: .utf8)
        for (line, fragment) in [
            ("guard app add e errors new clod old legacy", "unknown backend \"clod\""),
            ("guard app add e errors new cloud old legacy freeze points 500", "points must be 0.1…100"),
            ("guard app add e errors new cloud old legacy revert window 0s", "window must be 1s…300s"),
            ("guard db add e errors new cloud old legacy", "guards are for http routes"),
            ("guard nope add e errors new cloud old legacy", "unknown route \"nope\""),
            ("guard app add e sometimes new cloud old legacy", "unknown guard kind"),
            ("guard app ack", "no tripped guard"),
            ("guard app remove x", "no guard x"),
            ("guard app", "usage: guard ROUTE"),
        ] {
            let answer = h.run(line)
            #expect(!answer.ok && answer.text.contains(fragment) && !answer.text.contains("\n"), "\(line): \(answer.text)")
        }
        #expect(h.run("guards").text == "no guards")
        #expect(try String(contentsOfFile: h.statePath, encoding: .utf8) == stateBefore)
        #expect(h.auditRecords().filter { $0["outcome"] as? String == "refused" }.count == 9)
    }

    @Test func freezeGuardTripsFastAndRefusesRaisesUntilAcknowledged() throws {
        let m = try MetricsHarness(routes: Self.routes)
        defer { m.stop() }
        let h = m.admin
        let added = h.run("guard app add fast errors new cloud old legacy freeze --reason CHG-7")
        #expect(added.ok, "\(added.text)")
        #expect(added.text == "guard added to route app: guard fast errors new cloud old legacy freeze")
        #expect((h.auditRecords().last?["command"] as? String)?.hasPrefix("guard app add fast") == true)
        #expect(!h.run("guard app add fast latency new cloud old legacy").ok, "a second guard of that name")
        let evaluator = GuardEvaluator(service: h.service, proxy: h.proxy)
        evaluator.start()
        defer { evaluator.stop() }
        // Rounds of 100 users, one request each: about 20 a round land on the cloud side, which
        // refuses connections. (A guard added at run time judges traffic from its first sample.)
        let client = try TestClient(port: h.port)
        var statuses: [Int] = []
        #expect(waitUntil(10) {
            for user in 0..<100 { statuses.append(client.get("/u", headers: "X-User: user\(user)\r\n")?.status ?? 0) }
            return h.run("guards").text.contains("TRIPPED")
        }, "\(h.run("guards").text)")
        #expect(statuses.filter { $0 != 200 }.count >= 10, "cloud failed: \(statuses.filter { $0 != 200 }.count)")
        #expect(h.run("guards").text.contains("transport failures in a row"))
        // Freeze: the route stays as it is, raises are refused, lowering is allowed.
        #expect(h.proxy.table.routes[0].split.map(\.basisPoints) == [8_000, 2_000])
        let raise = h.run("weight app cloud 30%")
        #expect(!raise.ok && raise.text.contains("guard fast tripped") && raise.text.contains("guard app ack"), "\(raise.text)")
        #expect(h.run("weight app cloud 10%").ok)
        #expect(h.run("status").text.contains("app fast: errors cloud vs legacy, freeze: TRIPPED"))
        let status = try JSONSerialization.jsonObject(with: Data(m.request("/status.json").body)) as? [String: Any]
        let guards = status?["guards"] as? [[String: Any]] ?? []
        #expect(guards.first?["state"] as? String == "tripped" && guards.first?["name"] as? String == "fast")
        let samples = parseSamples(try m.scrape())
        #expect(samples["switchyard_guard_trips_total{route=\"app\",guard=\"fast\"}"] == 1, "\(samples.keys.filter { $0.contains("guard") })")
        // The latch is in the state file: a restart would not open it.
        let saved = try StateFile.load(path: h.statePath)
        #expect(saved?.guards?.trips["app/fast"] != nil)
        #expect(saved?.guards?.runtimeGuards.map(\.name) == ["fast"])
        let ack = h.run("guard app ack")
        #expect(ack.ok && ack.text.contains("guard fast: trip of"), "\(ack.text)")
        #expect(try StateFile.load(path: h.statePath)?.guards?.trips.isEmpty == true)
        #expect(h.run("weight app cloud 30%").ok)
        // The guard counts afresh from the ack: the failures that tripped it are still in its
        // 30 s window, and they tripped it again at the next tick (a revert guard would then
        // have reverted the operator's raise).
        usleep(2_500_000)
        #expect(!h.run("guards").text.contains("TRIPPED"), "\(h.run("guards").text)")
        #expect(h.run("guard app remove fast").ok)
        #expect(h.run("guards").text == "no guards")
    }

    @Test func aRevertGuardPutsTheSplitBackButKeepsAWriteHold() throws {
        let h = try AdminHarness(routes: Self.routes.replacingOccurrences(of: "127.0.0.1:1\n", with: "127.0.0.1:CLOUD\n"))
        defer { h.stop() }
        #expect(h.run("guard app add errs errors new cloud old legacy revert min 20 window 5s").ok)
        #expect(h.run("weight app cloud 40%").ok)
        let hold = h.run("hold app --reason migrate")
        #expect(hold.ok, "\(hold.text)")
        let evaluator = GuardEvaluator(service: h.service, proxy: h.proxy)
        evaluator.start()
        defer { evaluator.stop() }
        h.cloud.failing = true
        let client = try TestClient(port: h.port)
        let reverted = waitUntil(10) {
            for user in 0..<50 { _ = client.get("/r", headers: "X-User: user\(user)\r\n") }
            return h.proxy.table.routes[0].split.first { $0.backend == "cloud" }?.basisPoints == 2_000
        }
        #expect(reverted, "\(h.run("guards").text)")
        #expect(h.proxy.table.state.routes["app"]?.hold != nil, "the hold a person put on stays")
        h.cloud.failing = false
    }
}
