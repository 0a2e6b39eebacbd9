import Foundation
import Testing
import SwitchyardAdmin
import SwitchyardProxy
import SwitchyardTestSupport

/// The hold on /metrics and /status.json while writes are parked and one was refused.
@Suite struct HoldMetricsTests {
    @Test func parkedAndRefusedWritesAreCountedOnMetricsAndStatus() throws {
        let m = try MetricsHarness(routes: "limit hold-parked 2\n" + HoldSupport.routes, workers: 1)
        defer { m.stop() }
        let h = m.admin
        let before = parseSamples(try m.scrape())
        #expect(before["switchyard_held_requests"] == 0)
        #expect(before["switchyard_hold_rejections_total{reason=\"parked_limit\"}"] == 0, "shown from the start at 0")
        #expect(h.run("hold app").ok)
        let pending = try HoldBoundsTests.park(h, 2, body: 4)
        #expect(HoldSupport.post(try TestClient(port: h.port), "/notes/x")?.status == 503)
        let during = parseSamples(try m.scrape())
        #expect(during["switchyard_held_requests"] == 2)
        #expect(during["switchyard_hold_rejections_total{reason=\"parked_limit\"}"] == 1)
        let status = try JSONSerialization.jsonObject(with: Data(try m.request("/status.json").body)) as? [String: Any]
        let hold = status?["hold"] as? [String: Any]
        #expect(hold?["parked"] as? Int == 2, "\(hold ?? [:])")
        #expect((hold?["routes"] as? [[String: Any]])?.first?["name"] as? String == "app")
        // The route itself says it is held (the page's banner reads it).
        let app = (status?["routes"] as? [[String: Any]])?.first { $0["name"] as? String == "app" }
        #expect((app?["held"] as? [String: Any])?["max_wait_seconds"] as? Int == 60, "\(app ?? [:])")
        #expect(h.run("release app").ok)
        for p in pending { #expect(try p.wait()?.status == 200) }
        #expect(parseSamples(try m.scrape())["switchyard_held_requests"] == 0)
    }

    /// The hold's 503s never reached a backend: they are not the routed side's errors, nor
    /// transport failures. Counted as both (and as `no_server`), the writes a hold refuses
    /// during the database freeze fed a guard on that side: ten in a row were a fast trip,
    /// and a revert guard flipped the route back.
    @Test func writesTheHoldRefusesAreNotTheBackendsErrors() throws {
        let m = try MetricsHarness(routes: "limit hold-parked 1\n" + HoldSupport.routes, workers: 1)
        defer { m.stop() }
        let h = m.admin
        #expect(h.run("hold app").ok)
        let pending = try HoldBoundsTests.park(h, 1, body: 4)
        for i in 0..<12 {
            #expect(HoldSupport.post(try TestClient(port: h.port), "/notes/refused\(i)")?.status == 503)
        }
        #expect(h.proxy.holdSnapshot().rejections["parked_limit"] == 12)
        let cell = h.proxy.metricsSnapshot().cells[MetricsKey(route: "app", backend: "legacy")]
        #expect(cell?.guardErrors == 0 && cell?.transportFailures == 0 && cell?.transportStreak == 0,
                "errors \(cell?.guardErrors ?? 99), transport failures \(cell?.transportFailures ?? 99), streak \(cell?.transportStreak ?? 99)")
        #expect(parseSamples(try m.scrape())["switchyard_proxy_errors_total{route=\"app\",backend=\"legacy\",reason=\"no_server\"}"] == 0)
        #expect(h.run("release app").ok)
        for p in pending { #expect(try p.wait()?.status == 200) }
    }

    /// A released write's wait in the hold is not its backend's slowness: the latency
    /// histogram (which latency guards read) counts from the release. Counted whole, the
    /// writes released after a database switch made the new side's p95 the length of the
    /// freeze, and a latency guard reverted the route just after the database moved.
    @Test func aReleasedWritesWaitIsNotTheBackendsLatency() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let pending = try HoldBoundsTests.park(h, 1, body: 4)
        usleep(1_500_000)
        #expect(h.run("release app").ok)
        for p in pending { #expect(try p.wait()?.status == 200) }
        let cell = try #require(h.proxy.metricsSnapshot().cells[MetricsKey(route: "app", backend: "legacy")])
        let p95 = try #require(cell.percentileMicroseconds(0.95))
        #expect(p95 < 1_000_000, "the released write counted \(p95) µs, its wait included")
    }

    /// A parked write whose client leaves never reached the backend: not its error, not its
    /// latency, in /metrics' guard figures and in `status`. Before, it was a 5xx on the side
    /// it was parked for, with the whole freeze as its latency.
    @Test func aWriteWhoseClientLeavesWhileParkedIsNotTheBackends() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        var client: TestClient? = try TestClient(port: h.port)
        client?.send("POST /notes/left HTTP/1.1\r\nHost: test.local\r\nContent-Length: 4\r\n\r\nnote")
        try waitFor("the write to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        usleep(1_200_000)
        client = nil   // the tab closed
        try waitFor("the parked write to go", seconds: 5) { h.proxy.holdSnapshot().parked == 0 }
        let key = MetricsKey(route: "app", backend: "legacy")
        try waitFor("the request to be counted", seconds: 5) { h.proxy.metricsSnapshot().cells[key]?.requests == 1 }
        let cell = try #require(h.proxy.metricsSnapshot().cells[key])
        #expect(cell.guardErrors == 0 && cell.guardRequests == 0 && cell.heldAnswers == 1, "errors \(cell.guardErrors), guard requests \(cell.guardRequests)")
        #expect(cell.percentileMicroseconds(0.95) == nil, "the park's wait reached the guards' histogram")
        // status: "  legacy  1/1  requests  errors  p50  p99 ...": neither counts it.
        let status = h.run("status").text
        let row = status.split(separator: "\n").first { $0.hasPrefix("  legacy ") }?.split(separator: " ").map(String.init) ?? []
        #expect(row.count >= 4 && row[2] == "0" && row[3] == "0", "status counts it as the backend's: \(status)")
        #expect(h.run("release app").ok)
    }

    /// A write parked until its max-wait ran out is answered 503 by the hold, not by the
    /// backend: it is on /metrics as the client saw it, but neither in the guards' request
    /// count nor in the histogram their p95 reads. Before, each expiry put the freeze's
    /// length into the p95 (a latency guard reverted the flip) and diluted the error ratio.
    @Test func aWriteTheHoldLetExpireIsNotTheBackendsLatencyNorARequestForTheGuards() throws {
        let h = try AdminHarness(routes: HoldSupport.routes)
        defer { h.stop() }
        #expect(h.run("hold app --max-wait 1s").ok)
        #expect(HoldSupport.post(try TestClient(port: h.port), "/notes/expired")?.status == 503)
        let cell = try #require(h.proxy.metricsSnapshot().cells[MetricsKey(route: "app", backend: "legacy")])
        #expect(cell.requests == 1 && cell.heldAnswers == 1, "on /metrics: \(cell.requests) requests, \(cell.heldAnswers) held")
        #expect(cell.guardRequests == 0)
        #expect(cell.percentileMicroseconds(0.95) == nil, "the expiry's wait reached the guards' histogram")
        #expect(h.run("release app").ok)
        #expect(try TestClient(port: h.port).get("/notes/read")?.status == 200)
        let after = try #require(h.proxy.metricsSnapshot().cells[MetricsKey(route: "app", backend: "legacy")])
        #expect(after.guardRequests == 1 && after.requests == 2)
        #expect(try #require(after.percentileMicroseconds(0.95)) < 900_000)
    }
}
