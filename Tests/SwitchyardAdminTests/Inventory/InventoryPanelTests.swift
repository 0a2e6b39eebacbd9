import Foundation
import Testing
import SwitchyardTestSupport

/// The cutover page's inventory panel: `/status.json` carries each route's summary and the
/// page shows it (headless Chromium), raw-IP and unlisted host names first.
@Suite struct InventoryPanelTests {
    @Test func thePageShowsRawIPHostsUnlistedNamesOldProtocolsAndEndpointsASideNeverServed() throws {
        let h = try MetricsHarness()
        defer { h.stop() }
        let client = try TestClient(port: h.proxyPort)
        for _ in 0..<3 { #expect(client.get("/auth/login")?.status == 200) }
        let old = try TestClient(port: h.proxyPort)
        _ = old.send("GET /auth/7 HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: ClinicDesk/2.0\r\n\r\n")
        #expect(old.readResponse()?.status == 200)

        let document = try h.request("/status.json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(document.text.utf8)) as? [String: Any])
        let routes = try #require(object["routes"] as? [[String: Any]])
        let auth = try #require(routes.first { $0["name"] as? String == "auth" }?["inventory"] as? [String: Any])
        #expect((auth["raw_ip_hosts"] as? [[String: Any]])?.map { "\($0["host"]!) \($0["requests"]!)" } == ["127.0.0.1 1"])
        #expect((auth["unlisted_hosts"] as? [[String: Any]])?.map { "\($0["host"]!) \($0["requests"]!)" } == ["test.local 3"])
        #expect(auth["old_protocols"] as? [String: Int] == ["HTTP/1.0": 1])
        #expect(auth["networks"] as? Int == 1)
        #expect((auth["never_served"] as? [String: [String]])?["cloud"] == ["GET /auth/login", "GET /auth/{id}"])

        guard (try? tool("chromium")) != nil else { return }
        let dom = try CutoverPageTests.chromium("http://127.0.0.1:\(h.port)/", extra: ["--dump-dom"])
        #expect(dom.contains("raw IP in Host: 127.0.0.1 (1)"), "\(dom.suffix(3000))")
        #expect(dom.contains("names no route lists: test.local (3)"))
        #expect(dom.contains("old protocols: HTTP/1.0 1"))
        #expect(dom.contains("never served by cloud: GET /auth/login, GET /auth/{id}"))
        #expect(CutoverPageTests.scriptErrors(dom).isEmpty, "\(CutoverPageTests.scriptErrors(dom))")
    }
}
