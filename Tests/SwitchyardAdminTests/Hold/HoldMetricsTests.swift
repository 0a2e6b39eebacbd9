import Foundation
import Testing
import SwitchyardAdmin
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
        #expect(h.run("release app").ok)
        for p in pending { #expect(try p.wait()?.status == 200) }
        #expect(parseSamples(try m.scrape())["switchyard_held_requests"] == 0)
    }
}
