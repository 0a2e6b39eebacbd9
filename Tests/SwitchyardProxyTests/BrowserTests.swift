import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// A real browser over TLS and HTTP/2: what clinicians use. Headless Chromium loads a page
/// through the proxy whose script POSTs 200 KB forms to an application that answers 401
/// without reading them and closes; every POST must see the 401 (it used to fail 4 of 20).
@Suite struct BrowserTests {
    @Test func chromiumGetsTheAnswerOfAServerThatClosedMidBody() throws {
        let chromium = try tool("chromium")
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("site", name: "localhost")
        let h = try ProxyHarness(routes: TLSConfigurationTests.httpsRoutes(pki))
        defer { h.stop() }
        let port = try #require(h.proxy.httpsAddresses.first).port
        let profile = NSTemporaryDirectory() + "switchyard-chromium-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let result = try runProcess(chromium, [
            "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--user-data-dir=" + profile,
            "--virtual-time-budget=30000", "--dump-dom", "https://localhost:\(port)/browser-form?n=20",
        ], standardError: .discarded, timeoutSeconds: 120)
        #expect(result.status == 0, "chromium exit \(result.status)")
        #expect(result.output.contains("ok=20 failed=0"), "\(result.output.suffix(600))")
        // The page and the forms went over HTTP/2 (ALPN h2), as a browser does.
        #expect(waitUntil(5) {
            ((try? String(contentsOfFile: h.accessLogPath, encoding: .utf8)) ?? "").contains("\"proto\":\"h2\"")
        }, "the browser spoke HTTP/2")
    }
}
