import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin

/// Admin commands through the service, on a real proxy with real origins.
@Suite struct AdminCommandTests {
    @Test func weightChangesTheSplitAndSaysWhat() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let answer = h.run("weight app cloud 25% --reason CHG-1234")
        #expect(answer.ok)
        #expect(answer.text.contains("generation 2: app cloud 10.00% → 25.00%"))
        #expect(h.proxy.table.generation == 2)
        let record = try #require(h.auditRecords().last)
        #expect(record["outcome"] as? String == "accepted")
        #expect(record["reason"] as? String == "CHG-1234")
        #expect(record["generation"] as? Int == 2)
        #expect(record["generationBefore"] as? Int == 1)
        #expect(record["uid"] as? Int == 0)
    }

    @Test func badInputGetsOneLineAndChangesNothing() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let stateBefore = try String(contentsOfFile: h.statePath, encoding: .utf8)
        let cases: [(String, String)] = [
            ("frobnicate", "unknown command"),
            ("weight nope cloud 10%", "unknown route \"nope\""),
            ("weight app clowd 10%", "unknown backend \"clowd\""),
            ("weight app cloud 101%", "outside 0%…100%"),
            ("weight app cloud 10.001%", "steps of 0.01%"),
            ("weight app cloud ten", "not a percentage"),
            ("weight app legacy 50% cloud 40%", "add up to 90.00%"),
            ("weight app cloud -5%", "not a percentage"),
            ("weight app cloud 0.5", "\"0.5\" is ambiguous: give the share with % (0.5% or 50%)"),
            ("flip nope", "unknown route"),
            ("flip app extra", "usage"),
            ("revert to 99", "not in the history"),
            ("revert to x", "not a generation number"),
            ("cohort app add header X-Group", "usage"),
            ("cohort app add client 10.0.0.0/33 -> cloud", "not a CIDR"),
            ("cohort app add header X-Group nurses -", "the arrow was cut by the shell"),
            ("flip all --drain soon", "not a duration"),
            ("weight app \"cloud", "unterminated quote"),
            // Numbers whose scaling would overflow: refused before they are multiplied.
            ("weight app cloud 99999999999999999%", "outside 0%…100%"),
            ("simulate app cloud 99999999999999999%", "outside 0%…100%"),
            ("flip all --drain 99999999999999999m", "too long (at most 30 days)"),
            ("drain cloud 99999999999999999s", "too long (at most 30 days)"),
            ("drain cloud 18446744073709551615ms", "too long (at most 30 days)"),
            // Words or options a command does not take are refused, not ignored: `reload
            // other.yaml` would re-read the usual file while the operator believes otherwise.
            ("reload routes-new.yaml", "usage: reload (it takes no arguments; \"routes-new.yaml\" is one)"),
            ("status app", "usage: status"),
            ("history app", "usage: history"),
            ("help frobnicate", "unknown command \"frobnicate\""),
            ("flip all --rate 10/s", "flip does not take --rate (it takes --drain, --reason)"),
            ("weight app cloud 20% --drain 30s", "weight does not take --drain"),
            ("hold app --rate 10/s", "hold does not take --rate"),
            ("release app --max-wait 60s", "release does not take --max-wait"),
            ("status --reason CHG-1", "status does not take --reason"),
            ("inventory app --drain 30s", "inventory does not take --drain (it takes --format, --since)"),
            ("compare reset app --since 24h", "compare reset does not take --since"),
        ]
        for (line, fragment) in cases {
            let answer = h.run(line)
            #expect(!answer.ok, "\(line) should be refused")
            #expect(answer.text.hasPrefix("error: "), "\(line): \(answer.text)")
            #expect(answer.text.contains(fragment), "\(line): \(answer.text)")
            #expect(!answer.text.contains("\n"), "one line: \(answer.text)")
        }
        #expect(h.proxy.table.generation == 1)
        #expect(try String(contentsOfFile: h.statePath, encoding: .utf8) == stateBefore)
    }

    @Test func flipSwapsAndRevertRestores() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let client = try TestClient(port: h.port)
        #expect(client.get("/auth/x")?.text.hasPrefix("legacy") == true)
        #expect(h.run("flip auth").ok)
        #expect(client.get("/auth/x")?.text.hasPrefix("cloud") == true, "the open connection uses the new generation at once")
        #expect(h.run("revert").ok)
        #expect(client.get("/auth/x")?.text.hasPrefix("legacy") == true)
        #expect(h.run("revert to 2").ok)
        #expect(client.get("/auth/x")?.text == "cloud answered GET /auth/x (generation 4)\n")
        let history = h.run("history").text
        #expect(history.contains("flip auth"))
        #expect(history.contains("revert to 2"))
    }

    @Test func flipAllMovesASplitRouteWhollyAndRevertBringsTheSplitBack() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("flip all").ok)
        for i in 0..<20 {
            let client = try TestClient(port: h.port)
            #expect(client.get("/u\(i)")?.text.hasPrefix("cloud") == true)
        }
        #expect(h.run("revert").ok)
        var legacy = 0
        for i in 0..<200 {
            let client = try TestClient(port: h.port)
            if client.get("/u\(i)")?.text.hasPrefix("legacy") == true { legacy += 1 }
        }
        #expect((150...199).contains(legacy), "90% split is back: \(legacy)/200 on legacy")
    }

    /// `weight` on a split route flipped since keeps the file's order, so the share it gives
    /// the flipped side covers the buckets that were its canary before the flip. It listed
    /// active first: cloud took buckets 0–999 and every earlier canary user went to legacy.
    @Test func weightAfterAFlipKeepsTheFilesOrderSoTheCanaryUsersStay() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.proxy.table.routes[0].split.map(\.backend) == ["legacy", "cloud"])
        #expect(h.run("flip app").ok)
        #expect(h.run("weight app cloud 10%").ok)
        let route = h.proxy.table.routes[0]
        #expect(route.split.map(\.backend) == ["legacy", "cloud"] && route.split.map(\.basisPoints) == [9000, 1000], "\(route.split)")
    }

    /// The same on a blue-green route ramped at run time (no split in the file): the file's
    /// active and standby are the order. Before, after `weight 50%`, `flip`, `weight 50%`
    /// the new side took the other end's buckets, and every user changed sides.
    @Test func weightAfterAFlipOfARuntimeRampKeepsTheFilesActiveStandbyOrder() throws {
        let h = try AdminHarness(routes: """
            listen http 127.0.0.1:0
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route app {
                active legacy standby cloud
            }
            """)
        defer { h.stop() }
        #expect(h.run("weight app cloud 50%").ok)
        let before = h.proxy.table.routes[0].split
        #expect(before.map(\.backend) == ["legacy", "cloud"], "\(before)")
        #expect(h.run("flip app").ok)
        #expect(h.run("weight app cloud 50%").ok)
        let after = h.proxy.table.routes[0].split
        #expect(after.map(\.backend) == ["legacy", "cloud"] && after.map(\.basisPoints) == [5000, 5000], "\(after)")
    }

    /// `revert` undoes the last change even when a generation that changed no state (a
    /// reload, a restart's "start") came after it; it answered "nothing changed".
    @Test func revertPassesOverGenerationsThatChangedNoState() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("weight app cloud 20%").ok)
        #expect(h.run("reload").ok)
        let reverted = h.run("revert")
        #expect(reverted.ok && reverted.text.contains("state of generation 1 restored"), "\(reverted.text)")
        #expect(h.proxy.table.routes[0].split.map(\.basisPoints) == [9000, 1000])
    }

    @Test func cohortsPinUsers() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("weight app legacy 100%").ok)
        #expect(h.run("cohort app add cookie team pilot -> cloud").ok)
        let client = try TestClient(port: h.port)
        #expect(client.get("/", headers: "Cookie: " + "team=pilot" + "\r\n")?.text.hasPrefix("cloud") == true)
        #expect(client.get("/", headers: "Cookie: " + "team=other" + "\r\n")?.text.hasPrefix("legacy") == true)
        #expect(h.run("cohort app remove cookie team pilot -> cloud").ok)
        #expect(client.get("/", headers: "Cookie: " + "team=pilot" + "\r\n")?.text.hasPrefix("legacy") == true)
        #expect(!h.run("cohort app remove cookie team pilot -> cloud").ok)
    }

    @Test func unchangedStateMakesNoGeneration() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let answer = h.run("weight app cloud 10%")
        #expect(answer.ok)
        #expect(answer.text.contains("nothing changed"))
        #expect(h.proxy.table.generation == 1)
    }

    @Test func reloadWithABrokenFileChangesNothingAndReportsEveryError() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("weight app cloud 30%").ok)
        let good = try String(contentsOfFile: h.routesPath, encoding: .utf8)
        try (good + "\nroute broken {\n    backend clowd\n    frob x\n}\n").write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        let answer = h.run("reload")
        #expect(!answer.ok)
        #expect(answer.text.contains("clowd"))
        #expect(answer.text.contains("frob"))
        #expect(h.proxy.table.generation == 2)
        // A good file reloads and keeps the runtime state.
        try good.replacingOccurrences(of: "route auth", with: "route login").write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        let reloaded = h.run("reload")
        #expect(reloaded.ok, "\(reloaded.text)")
        #expect(h.proxy.table.generation == 3)
        #expect(h.proxy.table.routes.contains { $0.name == "login" })
        #expect(h.run("status").text.contains("cloud 30.00%"), "the weight survived the reload")
        #expect(!reloaded.text.contains("not in force"), "the file's sides did not change: \(reloaded.text)")
        // The file's split changes under the run-time weight: said, not silently ignored.
        try good.replacingOccurrences(of: "split legacy 90% cloud 10%", with: "split legacy 60% cloud 40%").write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        let changed = h.run("reload")
        #expect(changed.ok && changed.text.contains("warning: route app: the file's new sides are not in force: the run-time weight kept in the state file overrides them"),
                "\(changed.text)")
        #expect(h.run("status").text.contains("cloud 30.00%"))
    }

    /// Lines read only at start (admin, metrics, limit…) do not change with a reload: the
    /// answer says so for each, instead of an operator believing a new `allow` is in force;
    /// an admin line whose names do not resolve is refused now, not at the next start.
    @Test func aReloadSaysWhichLinesWaitForTheNextStart() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let good = try String(contentsOfFile: h.routesPath, encoding: .utf8)
        try ("admin \(h.directory)/admin.sock allow group nosuchgroup-sy\n" + good).write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        let refused = h.run("reload")
        #expect(!refused.ok && refused.text.contains("allow group nosuchgroup-sy: no such group"), "\(refused.text)")
        #expect(h.proxy.table.generation == 1)
        try ("admin \(h.directory)/admin.sock allow uid 4242\nlimit header-count 50\n" + good).write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        let reloaded = h.run("reload")
        #expect(reloaded.ok, "\(reloaded.text)")
        #expect(reloaded.text.contains("warning: the admin line changed: it takes effect at the next start"), "\(reloaded.text)")
        #expect(reloaded.text.contains("warning: the limit/timeout line changed"), "\(reloaded.text)")
        #expect(!reloaded.text.contains("metrics line"), "only what changed")
    }

    @Test func reloadWithAnUnreadableCertificateIsRefusedAndChangesNothing() throws {
        try requireTools("openssl")
        let directory = NSTemporaryDirectory() + "switchyard-admin-cert-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try runProcess(toolPath("openssl"), ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                        "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                                        "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem"])
        try #require(made.status == 0, "openssl: \(made.output)")
        let routes = AdminHarness.routes.replacingOccurrences(
            of: "listen http 127.0.0.1:0", with: "listen http 127.0.0.1:0\nlisten https 127.0.0.1:0 cert \(directory)/cert.pem key \(directory)/key.pem")
        let h = try AdminHarness(routes: routes)
        defer { h.stop() }
        let good = try String(contentsOfFile: h.routesPath, encoding: .utf8)
        let stateBefore = try? String(contentsOfFile: h.statePath, encoding: .utf8)
        try good.replacingOccurrences(of: "/key.pem", with: "/gone.pem").write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        let refused = h.run("reload")
        #expect(!refused.ok)
        #expect(refused.text.contains("gone.pem"), "the answer names the file: \(refused.text)")
        #expect(h.proxy.table.generation == 1)
        #expect((try? String(contentsOfFile: h.statePath, encoding: .utf8)) == stateBefore, "the state file is as it was")
        try good.write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        #expect(h.run("reload").ok, "a readable certificate reloads")
        #expect(h.proxy.table.generation == 2)
    }

    /// Listeners are bound at start and each one's certificate, client-ca and trust are
    /// found by its position in the file: a reload that added, moved or removed a `listen`
    /// line used to be accepted and hand one listener's options to another (a public
    /// listener's certificate, and no client-ca, on the staff one). It is refused, naming
    /// the line, and changes nothing.
    @Test func aReloadThatAddsMovesOrRemovesAListenerIsRefused() throws {
        let routes = AdminHarness.routes.replacingOccurrences(
            of: "listen http 127.0.0.1:0", with: "listen http 127.0.0.1:0\nlisten http 127.0.0.1:0 h2c")
        let h = try AdminHarness(routes: routes)
        defer { h.stop() }
        let good = try String(contentsOfFile: h.routesPath, encoding: .utf8)
        let stateBefore = try? String(contentsOfFile: h.statePath, encoding: .utf8)
        let plain = "listen http 127.0.0.1:0\n", h2c = "listen http 127.0.0.1:0 h2c\n"
        for (text, fragment) in [
            (good.replacingOccurrences(of: plain + h2c, with: h2c + plain), "listener 1 was \"listen http 127.0.0.1:0\", is now \"listen http 127.0.0.1:0 h2c\""),
            (good.replacingOccurrences(of: h2c, with: h2c + "listen http 127.0.0.1:0\n"), "test.routes:3:1: a listener was added"),
            (good.replacingOccurrences(of: h2c, with: ""), "a listener was removed: \"listen http 127.0.0.1:0 h2c\""),
        ] {
            try text.write(toFile: h.routesPath, atomically: true, encoding: .utf8)
            let answer = h.run("reload")
            #expect(!answer.ok && answer.text.contains(fragment) && answer.text.contains("reload refused, nothing changed"), "\(answer.text)")
            #expect(h.proxy.table.generation == 1)
            #expect((try? String(contentsOfFile: h.statePath, encoding: .utf8)) == stateBefore)
        }
        // The same listeners with another change reload.
        try good.replacingOccurrences(of: "route auth", with: "route login").write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        #expect(h.run("reload").ok)
        #expect(h.proxy.table.generation == 2)
    }

    @Test func refusedCallerIsToldAndAudited() throws {
        let h = try AdminHarness(allowUIDs: [4242])
        defer { h.stop() }
        let stranger = Caller(uid: 5555, gid: 5555, pid: 77, userName: "stranger")
        let refused = h.run("flip all", as: stranger)
        #expect(!refused.ok)
        #expect(refused.text.contains("may not change routing"))
        #expect(h.run("status", as: stranger).ok, "reading is allowed to whoever can open the socket")
        #expect(h.proxy.table.generation == 1)
        let record = try #require(h.auditRecords().last)
        #expect(record["outcome"] as? String == "refused")
        #expect(record["uid"] as? Int == 5555)
        #expect(record["pid"] as? Int == 77)
        let allowed = Caller(uid: 4242, gid: 4242, pid: 78, userName: "oncall")
        #expect(h.run("flip all", as: allowed).ok)
    }

    @Test func accessPolicyDecisions() {
        let policy = AccessPolicy(serviceUID: 990, allowedUIDs: [1001], allowedGIDs: [500])
        #expect(policy.mayChange(Caller(uid: 0, gid: 0, pid: 1, userName: "root"), groups: []))
        #expect(policy.mayChange(Caller(uid: 990, gid: 990, pid: 1, userName: "svc"), groups: []))
        #expect(policy.mayChange(Caller(uid: 1001, gid: 1001, pid: 1, userName: "a"), groups: []))
        #expect(policy.mayChange(Caller(uid: 1002, gid: 500, pid: 1, userName: "b"), groups: []))
        #expect(policy.mayChange(Caller(uid: 1003, gid: 1003, pid: 1, userName: "c"), groups: [27, 500]))
        #expect(!policy.mayChange(Caller(uid: 1004, gid: 1004, pid: 1, userName: "d"), groups: [27]))
    }

    @Test func statusShowsServersUpPerBackend() throws {
        let h = try AdminHarness(routes: AdminHarness.routes.replacingOccurrences(of: """
                server 127.0.0.1:LEGACY
            }
            """, with: """
                server 127.0.0.1:LEGACY
                health GET /healthz every 100ms rise 1 fall 1
            }
            """))
        defer { h.stop() }
        func serversUp(_ name: String) throws -> String {
            let line = try #require(h.run("status").text.split(separator: "\n").first { $0.hasPrefix("  \(name) ") })
            return String(line.split(separator: " ")[1])
        }
        #expect(try serversUp("legacy") == "1/1")
        h.legacy.failing = true
        #expect(waitUntil(10) { (try? serversUp("legacy")) == "0/1" }, "status shows the server down")
        let (answer, _) = h.service.execute("json status", caller: AdminHarness.root)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.json.utf8)) as? [String: Any])
        let legacy = try #require((object["backends"] as? [[String: Any]])?.first { $0["name"] as? String == "legacy" })
        #expect(legacy["servers_up"] as? Int == 0 && legacy["servers"] as? Int == 1)
        h.legacy.failing = false
        #expect(waitUntil(10) { (try? serversUp("legacy")) == "1/1" }, "and up again")
    }

    @Test func statusWarnsAboutUnverifiedUpstreamTLS() throws {
        let plain = try AdminHarness()
        defer { plain.stop() }
        #expect(!plain.run("status").text.contains("verification is OFF"))
        let h = try AdminHarness(routes: AdminHarness.routes.replacingOccurrences(of: "server 127.0.0.1:CLOUD", with: "server 127.0.0.1:CLOUD tls noverify"))
        defer { h.stop() }
        let status = h.run("status").text
        #expect(status.contains("warning: TLS certificate verification is OFF for: cloud 127.0.0.1:\(h.cloud.port)"), "\(status)")
    }

    @Test func statusComparesBackends() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let client = try TestClient(port: h.port)
        for _ in 0..<20 { _ = client.get("/auth/x") }
        let (answer, _) = h.service.execute("json status", caller: AdminHarness.root)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.json.utf8)) as? [String: Any])
        let backends = try #require(object["backends"] as? [[String: Any]])
        let legacy = try #require(backends.first { $0["name"] as? String == "legacy" })
        #expect(legacy["requests"] as? Int == 20)
        #expect(legacy["p50_us"] as? Int != nil)
        #expect(h.run("status").text.contains("legacy"))
        // How clients came in: 20 HTTP/1.1 requests on one plain connection.
        let clients = try #require(object["clients"] as? [String: Any])
        #expect(clients["requests"] as? Int == 20)
        #expect(clients["h2_requests"] as? Int == 0)
        #expect(h.run("status").text.contains("requests 20 (HTTP/2 0 on 0 connections)"))
    }
}

/// A restart whose state file reads back but cannot be written (a full /var) serves the
/// restored state, and changes are refused with the reason until the file can be written.
/// Before, the start's own bookkeeping write stopped the process: the next crash or reboot
/// left the front door down.
@Suite struct StartWithAStateFileThatCannotBeWrittenTests {
    @Test func aRestartServesTheRestoredStateAndRefusesChangesUntilTheFileCanBeWritten() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("weight app cloud 30%").ok)
        // The temporary file every replacement writes first cannot be made: a directory, not
        // empty, in its place (root ignores permissions; a full disk is not at hand).
        let blocker = h.statePath + ".tmp.\(getpid())"
        try FileManager.default.createDirectory(atPath: blocker + "/full", withIntermediateDirectories: true)
        let restarted = try h.restartedService()
        #expect(restarted.execute("status", caller: AdminHarness.root).0.ok, "the restarted service answers")
        #expect(h.proxy.table.routes[0].split.map(\.basisPoints) == [7000, 3000], "the restored state is served")
        #expect(restarted.execute("status", caller: AdminHarness.root).0.text.contains("WARNING: the state file could not be written at start"))
        let refused = restarted.execute("weight app cloud 40%", caller: AdminHarness.root).0
        #expect(!refused.ok && refused.text.contains("cannot write"), "\(refused.text)")
        #expect(h.proxy.table.routes[0].split.map(\.basisPoints) == [7000, 3000], "nothing half-applied")
        try FileManager.default.removeItem(atPath: blocker)
        let accepted = restarted.execute("weight app cloud 40%", caller: AdminHarness.root).0
        #expect(accepted.ok, "\(accepted.text)")
        #expect(!restarted.execute("status", caller: AdminHarness.root).0.text.contains("WARNING"), "once written, the warning goes")
    }

    /// `flip --help` at 2 a.m. shows the command's usage; nothing is run or audited (before:
    /// "unknown option --help", and `flip -h` looked for a route named "-h").
    @Test func aCommandsHelpIsItsUsageAndRunsNothing() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        let generation = h.proxy.table.generation
        let records = h.auditRecords().count
        for line in ["flip --help", "flip all -h", "help flip"] {
            let answer = h.run(line)
            #expect(answer.ok, "\(line): \(answer.text)")
            #expect(answer.text.hasPrefix("usage: flip ROUTE|all [--drain 30s]"), "\(line): \(answer.text)")
            #expect(answer.text.contains("options: --drain, --reason") && answer.text.contains("changes routing: audited"), "\(answer.text)")
        }
        #expect(h.run("status --help").text.hasPrefix("usage: status\n"))
        #expect(h.proxy.table.generation == generation, "nothing ran")
        #expect(h.auditRecords().count == records, "nothing audited")
        // Before the last word, -h is a value: a cohort for the header value "-h" (taken for
        // help, the usage answered "ok" while nothing was added).
        let cohort = h.run("cohort app add header X-Flag -h -> cloud")
        #expect(cohort.ok && cohort.text.contains("cohort added: header X-Flag -h -> cloud"), "\(cohort.text)")
    }
}
