import Foundation
import Testing
import SwitchyardAdmin
import SwitchyardTestSupport

/// The mirror's data-plane counters on /metrics: shown at 0 once a route mirrors, then
/// counting copies sent and writes dropped for a target that is not a sandbox.
@Suite struct MirrorMetricsTests {
    @Test func copiesSentAndDroppedAreOnMetrics() throws {
        let m = try MetricsHarness(routes: MirrorCommandTests.routes, workers: 1)
        defer { m.stop() }
        let h = m.admin
        #expect(!(try m.scrape()).contains("switchyard_mirror_sent_total"), "no mirror, no series")
        #expect(h.run("mirror app cloud 100%").ok)
        let before = parseSamples(try m.scrape())
        #expect(before["switchyard_mirror_sent_total{backend=\"cloud\"}"] == 0, "shown from the start at 0")
        #expect(before["switchyard_mirror_dropped_total{backend=\"cloud\",reason=\"method\"}"] == 0)
        let client = try TestClient(port: h.port)
        #expect(client.get("/a", headers: "X-User: a\r\n")?.status == 200)
        #expect(client.send("POST /b HTTP/1.1\r\nHost: x\r\nX-User: a\r\nContent-Length: 0\r\n\r\n"))
        #expect(client.readResponse()?.status == 200)
        try waitFor("the copy to end", seconds: 5) {
            parseSamples((try? m.scrape()) ?? "")["switchyard_mirror_in_flight{backend=\"cloud\"}"] == 0
        }
        let after = parseSamples(try m.scrape())
        #expect(after["switchyard_mirror_sent_total{backend=\"cloud\"}"] == 1)
        #expect(after["switchyard_mirror_dropped_total{backend=\"cloud\",reason=\"method\"}"] == 1)
        #expect(after["switchyard_mirror_failed_total{backend=\"cloud\",reason=\"timeout\"}"] == 0)
    }
}
