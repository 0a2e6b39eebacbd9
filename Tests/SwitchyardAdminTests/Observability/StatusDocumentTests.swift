import Foundation
import Testing
import SwitchyardTestSupport

/// `/status.json` as scripts and the page read it.
@Suite struct StatusDocumentTests {
    /// A split route names no active side: after `flip` then `weight`, the flip's active
    /// side stayed in the document ("active": "cloud" beside "split legacy 70% cloud 30%").
    @Test func aSplitRouteNamesNoActiveSide() throws {
        let h = try MetricsHarness()
        defer { h.stop() }
        #expect(h.admin.run("flip app").ok)
        #expect(h.admin.run("weight app cloud 30%").ok)
        let document = try JSONSerialization.jsonObject(with: Data(try h.request("/status.json").body)) as? [String: Any]
        let app = try #require((document?["routes"] as? [[String: Any]])?.first { $0["name"] as? String == "app" })
        #expect(app["routing"] as? String == "split legacy 70.00% cloud 30.00%", "\(app)")
        #expect(app["active"] is NSNull && app["standby"] is NSNull, "\(app)")
    }
}
