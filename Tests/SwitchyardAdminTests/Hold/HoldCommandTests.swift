import Foundation
import Glibc
import Testing
import SwitchyardAdmin
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTestSupport

/// `hold` and `release` on a real proxy with real origins: writes park while reads flow,
/// the release sends them to the routing in force then, and bad input changes nothing.
@Suite struct HoldCommandTests {
    @Test func heldWritesParkWhileReadsFlowAndGoToTheNewSideOnRelease() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        let hold = h.run("hold app --reason CHG-7")
        #expect(hold.ok, "\(hold.text)")
        #expect(hold.text.contains("held: app (writes); 0 in flight; 0 parked"), "\(hold.text)")
        let writer = Handed(try TestClient(port: h.port))
        let parked = Background { HoldSupport.post(writer.client, "/notes/1", body: "note 1") }
        try waitFor("the write to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        // Reads flow, on other connections; so does the excepted login path.
        let reader = try TestClient(port: h.port)
        for i in 0..<5 { #expect(reader.get("/notes/\(i)")?.status == 200) }
        #expect(HoldSupport.post(reader, "/login", body: "user")?.text.hasPrefix("legacy answered POST /login") == true)
        #expect(HoldSupport.seen(h.legacy, "POST", "/notes") == 0, "nothing held reached a backend")
        let status = h.run("status")
        #expect(status.text.contains("write hold:") && status.text.contains("1 parked"), "\(status.text)")
        #expect(!parked.finished)
        #expect(h.run("flip app").ok)
        let release = h.run("release app")
        #expect(release.ok, "\(release.text)")
        #expect(release.text.contains("released: app; 1 parked write(s) sent upstream"), "\(release.text)")
        let answer = try parked.wait()
        #expect(answer?.status == 200)
        #expect(answer?.text.hasPrefix("cloud answered POST /notes/1") == true, "\(answer?.text ?? "no answer")")
        #expect(HoldSupport.seen(h.legacy, "POST", "/notes") == 0)
        #expect(HoldSupport.seen(h.cloud, "POST", "/notes") == 1)
        // The connection goes on after a released request.
        #expect(HoldSupport.post(writer.client, "/notes/2")?.text.hasPrefix("cloud answered POST /notes/2") == true)
        let commands = h.auditRecords().compactMap { $0["command"] as? String }
        #expect(commands.contains("hold app --reason CHG-7") && commands.contains("release app"), "\(commands)")
        #expect(h.auditRecords().contains { $0["outcome"] as? String == "hold-report" })
    }

    /// A slow release does not answer its own queue "not saved": once the route is released,
    /// a parked write's max-wait stops counting while the pacing reaches it. Before, with a
    /// 2 s max-wait and a release at 1/s, the writes at the back got 503 mid-release.
    @Test func aPacedReleaseOutlastingTheMaxWaitLosesNoParkedWrite() throws {
        let h = try AdminHarness(routes: HoldSupport.routes, workers: 1)
        defer { h.stop() }
        #expect(h.run("hold app --max-wait 2s").ok)
        let pending = try HoldSupport.send(h, (0..<4).map { "/notes/\($0)" })
        #expect(h.run("release app --rate 1/s").ok)
        let statuses = try pending.map { try $0.wait(seconds: 20)?.status }
        #expect(statuses == [200, 200, 200, 200], "every parked write was forwarded: \(statuses)")
        #expect(HoldSupport.seen(h.legacy, "POST", "/notes") == 4)
    }

    @Test func aParkedConnectionKeepsItsOrderAndOtherWritesArriveInArrivalOrder() throws {
        let h = try AdminHarness(routes: HoldSupport.routes, workers: 1)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let pending = try HoldSupport.send(h, (0..<20).map { "/notes/\($0)" })
        // 20/s: each is sent 50 ms after the one before, so the backend sees the sending order.
        #expect(h.run("release app --rate 20/s").ok)
        for p in pending { #expect(try p.wait()?.status == 200) }
        let order = HoldSupport.notesOrder(h.legacy)
        #expect(order == Array(0..<20), "released in arrival order: \(order)")
    }

    @Test func aRevertThatEndsTheHoldReleasesItsQueue() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let writer = Handed(try TestClient(port: h.port))
        let parked = Background { HoldSupport.post(writer.client, "/notes/r") }
        try waitFor("the write to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        let revert = h.run("revert")
        #expect(revert.ok && revert.text.contains("app released") && revert.text.contains("released: app; 1 parked write(s)"), "\(revert.text)")
        #expect(try parked.wait()?.text.hasPrefix("legacy answered POST /notes/r") == true)
    }

    /// A `revert` typed after a `release` holds the route again: the hold starts now (its
    /// max-wait and its 10-minute limit counted from the revert) and the answer waits for
    /// quiescence as `hold`'s does. Before, it came back with the old hold's start: a hold
    /// begun more than 10 minutes earlier answered every write 503 at once.
    @Test func aRevertThatBringsAHoldBackStartsItNow() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        #expect(h.run("release app").ok)
        sleep(2)
        let before = Date().timeIntervalSince1970
        let revert = h.run("revert")
        #expect(revert.ok && revert.text.contains("route app held again") && revert.text.contains("held: app (writes); 0 in flight"), "\(revert.text)")
        let since = try #require(h.proxy.table.routes[0].hold?.state.since)
        #expect(since >= before - 0.5, "the hold starts at the revert (\(since) vs \(before))")
        // Held now and in the generation reverted to: the hold in force keeps its own start.
        let first = h.proxy.table.generation
        #expect(h.run("release app").ok)
        sleep(2)
        #expect(h.run("hold app").ok)
        let current = try #require(h.proxy.table.routes[0].hold?.state.since)
        #expect(h.run("revert to \(first)").ok)
        #expect(h.proxy.table.routes[0].hold?.state.since == current, "not the older hold's start")
        #expect(h.run("release app").ok)
    }

    @Test func badInputIsRefusedInOneLineAuditedAndChangesNothing() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        let generation = h.proxy.table.generation
        let cases = [
            ("hold nosuch", "unknown route \"nosuch\""),
            ("hold tds", "mode tcp"),
            ("hold app --max-wait -5s", "is not a duration"),
            ("hold app --max-wait 0s", "too short"),
            ("hold app --max-wait 301s", "too long"),
            ("hold app --max-wait 1h", "is not a duration"),
            ("release app", "route app is not held"),
            ("release all", "no route is held"),
            ("release app --rate 0/s", "not a rate"),
            ("hold", "usage: hold"),
        ]
        for (line, expected) in cases {
            let answer = h.run(line)
            #expect(!answer.ok, "\(line) was accepted")
            #expect(answer.text.contains(expected), "\(line): \(answer.text)")
            #expect(!answer.text.contains("\n"), "\(line): one line")
        }
        #expect(h.proxy.table.generation == generation, "nothing changed")
        let refused = h.auditRecords().filter { $0["outcome"] as? String == "refused" }.compactMap { $0["command"] as? String }
        #expect(refused.count == cases.count, "every refusal audited: \(refused)")
        #expect(h.run("hold app").ok)
        let twice = h.run("hold app")
        #expect(!twice.ok && twice.text.contains("already held"), "\(twice.text)")
    }

    @Test func holdAnswersOnlyOnceWritesInFlightUpstreamAreDone() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        var slow: [Background<TestClient.Response?>] = []
        for _ in 0..<3 {
            let client = Handed(try TestClient(port: h.port))
            slow.append(Background { HoldSupport.post(client.client, "/slow?ms=700") })
        }
        try waitFor("the slow writes to reach legacy", seconds: 5) { HoldSupport.seen(h.legacy, "POST", "/slow") == 3 }
        let started = Clock.monotonicMilliseconds()
        let hold = h.run("hold app")
        let took = Clock.monotonicMilliseconds() - started
        #expect(hold.ok && hold.text.contains("0 in flight"), "\(hold.text)")
        #expect(took >= 300, "the hold waited for the writes in flight (\(took) ms)")
        for s in slow {
            // The proxy counts a write done once its answer is relayed; the client thread that
            // reads it may be scheduled a moment later on a loaded machine.
            #expect(waitUntil(2) { s.finished }, "every write in flight had its answer when the hold answered")
            #expect(try s.wait()?.status == 200)
        }
    }

    @Test func whileItWaitsTheHoldReportsTheWritesStillInFlightAsProgressLines() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        var slow: [Background<TestClient.Response?>] = []
        for _ in 0..<2 {
            let client = Handed(try TestClient(port: h.port))
            slow.append(Background { HoldSupport.post(client.client, "/slow?ms=800") })
        }
        try waitFor("the slow writes to reach legacy", seconds: 5) { HoldSupport.seen(h.legacy, "POST", "/slow") == 2 }
        final class Lines: @unchecked Sendable { var all: [String] = [] }
        let lines = Lines()
        let (answer, _) = h.service.execute("hold app", caller: AdminHarness.root,
                                            progress: AdminProgress(intervalMilliseconds: 0) { lines.all.append($0) })
        #expect(answer.ok && answer.text.contains("0 in flight"), "\(answer.text)")
        #expect(!answer.text.contains("progress:"), "the answer itself carries no progress line")
        #expect(!lines.all.isEmpty, "the wait was reported while it lasted")
        #expect(lines.all.allSatisfy { $0.hasPrefix(AdminProgress.prefix) }, "\(lines.all)")
        #expect(lines.all.first?.contains("2 write(s) still in flight upstream") == true, "\(lines.all)")
        #expect(lines.all.first?.contains("s left; 0 parked") == true, "\(lines.all)")
        for s in slow { _ = try s.wait() }
        // A JSON answer is one object: no progress lines around it.
        let client = Handed(try TestClient(port: h.port))
        let parked = Background { HoldSupport.post(client.client, "/notes/1") }
        try waitFor("the write to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        let jsonLines = Lines()
        let (released, json) = h.service.execute("release app --rate 1/s --json", caller: AdminHarness.root,
                                                  progress: AdminProgress(intervalMilliseconds: 0) { jsonLines.all.append($0) })
        #expect(json && released.ok, "\(released.text)")
        #expect(jsonLines.all.isEmpty, "\(jsonLines.all)")
        #expect(try parked.wait()?.status == 200)
    }

    /// A reload that removes the held route releases its queue; routed again, a parked
    /// write would have gone to whatever route matches now (here a catch-all for another
    /// application). It is answered 503 "not saved" instead, never forwarded.
    @Test func aWriteParkedOnARouteAReloadRemovesIsAnsweredNotSaved() throws {
        let routes = HoldSupport.routes.replacingOccurrences(of: "route app {", with: "route notes {\n    path /notes/\n    active cloud\n    hold methods POST\n}\nroute app {")
        let h = try AdminHarness(routes: routes)
        defer { h.stop() }
        #expect(h.run("hold notes").ok)
        let writer = Handed(try TestClient(port: h.port))
        let parked = Background { HoldSupport.post(writer.client, "/notes/1") }
        try waitFor("the write to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        let file = try String(contentsOfFile: h.routesPath, encoding: .utf8)
        try file.replacingOccurrences(of: "route notes {\n    path /notes/\n    active cloud\n    hold methods POST\n}\n", with: "")
            .write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        let reload = h.run("reload")
        #expect(reload.ok, "\(reload.text)")
        let answer = try parked.wait(seconds: 15)
        #expect(answer?.status == 503 && answer?.text.contains("NOT saved") == true, "\(answer?.text ?? "no answer")")
        usleep(200_000)
        #expect(HoldSupport.seen(h.legacy, "POST", "/notes") == 0 && HoldSupport.seen(h.cloud, "POST", "/notes") == 0, "never forwarded")
        #expect(h.proxy.holdSnapshot().rejections["route_removed"] == 1)
    }

    /// A reload that keeps the held route but gives the parked write's path to a new route
    /// (another application): at the release, routed again, it would have gone there. It is
    /// answered 503 "not saved" instead, never forwarded; the route's other writes go on.
    @Test func aReleasedWriteWhosePathAReloadGaveToAnotherRouteIsAnsweredNotSaved() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let pending = try HoldSupport.send(h, ["/notes/1", "/orders/1"])
        let file = try String(contentsOfFile: h.routesPath, encoding: .utf8)
        try file.replacingOccurrences(of: "route app {", with: "route notes {\n    path /notes/\n    active cloud\n}\nroute app {")
            .write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        let reload = h.run("reload")
        #expect(reload.ok, "\(reload.text)")
        let release = h.run("release app")
        #expect(release.ok && release.text.contains("1 parked write(s) sent upstream"), "\(release.text)")
        let notes = try pending[0].wait(seconds: 15)
        #expect(notes?.status == 503 && notes?.text.contains("NOT saved") == true, "\(notes?.text ?? "no answer")")
        #expect(try pending[1].wait(seconds: 15)?.text.hasPrefix("legacy answered POST /orders/1") == true)
        usleep(200_000)
        #expect(HoldSupport.seen(h.cloud, "POST", "/notes") == 0 && HoldSupport.seen(h.legacy, "POST", "/notes") == 0, "never forwarded")
        #expect(h.proxy.holdSnapshot().rejections["rerouted"] == 1)
    }

    @Test func maxWaitAnswers503NotSavedAndTheRequestIsNeverForwarded() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app --max-wait 1s").ok)
        let client = try TestClient(port: h.port)
        let started = Clock.monotonicMilliseconds()
        let answer = HoldSupport.post(client, "/notes/9")
        let waited = Clock.monotonicMilliseconds() - started
        #expect(answer?.status == 503)
        #expect(answer?.header("Retry-After") != nil)
        #expect(answer?.text.contains("NOT saved") == true, "\(answer?.text ?? "")")
        #expect(waited >= 900 && waited < 5_000, "answered at max-wait (\(waited) ms)")
        #expect(h.run("release app").ok)
        usleep(200_000)
        #expect(HoldSupport.seen(h.legacy, "POST", "/notes") == 0, "never forwarded later")
        #expect(h.proxy.holdSnapshot().rejections["max_wait"] == 1)
    }

    /// A bodiless write (a DELETE, an empty POST) keeps its connection after the max-wait
    /// 503. Its head used to stay in the connection's input: read again, parked again, and
    /// sent upstream at the release, after its client was told it was not saved.
    @Test func aBodilessWriteRefusedAtMaxWaitIsNotReadAgain() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app --max-wait 1s").ok)
        let client = try TestClient(port: h.port, timeoutSeconds: 3)
        client.send("DELETE /notes/9 HTTP/1.1\r\nHost: test.local\r\n\r\n")
        #expect(client.readResponse()?.status == 503)
        usleep(300_000)
        #expect(h.proxy.holdSnapshot().parked == 0, "not parked again")
        #expect(h.run("release app").ok)
        usleep(300_000)
        #expect(HoldSupport.seen(h.legacy, "DELETE", "/notes") == 0, "never forwarded later")
        // The connection goes on with the next request.
        client.send("GET /notes/1 HTTP/1.1\r\nHost: test.local\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
    }

    @Test func aClientThatLeavesWhileParkedIsDroppedAndNeverForwarded() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        do {
            let client = try TestClient(port: h.port)
            client.send("POST /notes/5 HTTP/1.1\r\nHost: test.local\r\nContent-Length: 6\r\n\r\nnote 5")
            try waitFor("the write to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        }   // the client closes its socket here
        try waitFor("the parked write to be dropped", seconds: 5) { h.proxy.holdSnapshot().parked == 0 }
        #expect(h.run("release app").ok)
        usleep(200_000)
        #expect(HoldSupport.seen(h.legacy, "POST", "/notes") == 0)
        #expect(h.legacy.requestCount == 0, "the backend never saw it")
    }

    /// A client that half-closes after its write (it is done sending, still reading) is
    /// told the write was not saved, instead of a connection closed with no answer; the
    /// write is still never forwarded.
    @Test func aHalfClosedClientIsToldItsParkedWriteWasNotSaved() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let client = try TestClient(port: h.port)
        client.send("POST /notes/7 HTTP/1.1\r\nHost: test.local\r\nContent-Length: 6\r\n\r\nnote 7")
        try waitFor("the write to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        client.shutdownWrite()
        let answer = client.readResponse()
        #expect(answer?.status == 503, "\(answer.map { "\($0.status) \($0.text)" } ?? "no answer")")
        #expect(answer?.text.contains("NOT saved") == true, "\(answer?.text ?? "")")
        #expect(h.proxy.holdSnapshot().parked == 0)
        #expect(h.proxy.holdSnapshot().rejections["client_closed"] == 1, "\(h.proxy.holdSnapshot().rejections)")
        #expect(h.run("release app").ok)
        usleep(200_000)
        #expect(h.legacy.requestCount == 0, "the backend never saw it")
    }

    /// The same with a body larger than the connection's buffer: the rest waits in the
    /// kernel, the socket has no read interest, and no event says the client left. At the
    /// release the write was read whole and sent upstream — saved after its client had
    /// given up on it (and saved again when the client retried).
    @Test func aClientThatLeavesWhileItsLargeBodyWaitsIsNeverForwarded() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let body = String(repeating: "n", count: 100_000)
        do {
            let client = try TestClient(port: h.port)
            client.send("POST /notes/big HTTP/1.1\r\nHost: test.local\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
            try waitFor("the write to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        }   // the client closes its socket here, its body read only in part
        usleep(300_000)
        #expect(h.run("release app").ok)
        usleep(500_000)
        #expect(HoldSupport.seen(h.legacy, "POST", "/notes") == 0, "the write of a client that left was forwarded")
        #expect(h.proxy.holdSnapshot().parked == 0)
    }

    @Test func theHoldIsRuntimeStateThatSurvivesARestart() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app --max-wait 45s --reason CHG-9").ok)
        let saved = try String(contentsOfFile: h.statePath, encoding: .utf8)
        #expect(saved.contains("\"hold\""), "the state file carries the hold")
        let config = try RoutesConfig.load(path: h.routesPath)
        let (table, _, _) = try AdminService.startingTable(config: config, statePath: h.statePath)
        let route = table.routes[table.routeIndex(named: "app")!]
        #expect(route.hold?.state.maxWaitSeconds == 45)
        #expect(route.hold?.state.reason == "CHG-9")
    }

    /// A release says the longest wait of its own writes: before, it said the longest since
    /// the process started, so every later release (one with nothing parked too) repeated
    /// an earlier hold's figure, into the audit log as well.
    @Test func aReleaseReportsTheLongestWaitOfItsOwnWrites() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let parked = try HoldSupport.send(h, ["/notes/0"])
        usleep(1_500_000)
        let first = h.run("release app").text
        // At least the 1.5 s it waited (a loaded host may start the release later).
        let waited = first.range(of: #"longest wait [0-9]+\.[0-9]s"#, options: .regularExpression)
            .flatMap { Double(first[$0].dropFirst("longest wait ".count).dropLast()) } ?? 0
        #expect(waited >= 1.5 && waited < 60, "\(first)")
        #expect(try parked[0].wait(seconds: 10)?.status == 200)
        #expect(h.run("hold app").ok)
        // The counters under a new hold say what they count.
        let status = h.run("status").text
        #expect(status.contains("since start: released 1, refused 0"), "\(status)")
        let second = h.run("release app").text
        #expect(second.contains("0 parked write(s) sent upstream") && second.contains("longest wait 0.0s"), "\(second)")
    }
}
