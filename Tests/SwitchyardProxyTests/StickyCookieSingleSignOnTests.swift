import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// Single sign-on in a real browser: the identity provider's answer comes back as a form it
/// posts from its own site (SAML's POST binding, OpenID's form_post), and that post must
/// carry the sticky cookie, or the proxy draws a new bucket for it: the login lands on the
/// side that did not start it, and the user is moved at every login. Before, the cookie was
/// `SameSite=Lax`, which a browser does not send on a cross-site POST.
@Suite struct StickyCookieSingleSignOnTests {
    @Test func theIdentityProvidersFormPostCarriesTheStickyCookie() throws {
        let chromium = try tool("chromium")
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("site", name: "localhost")
        let h = try ProxyHarness(routes: """
            listen https 127.0.0.1:0 cert \(pki.path("site.pem")) key \(pki.path("site.key"))
            access-log ACCESSLOG
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route app {
                split legacy 50% cloud 50%
                sticky cookie SB
            }
            """)
        defer { h.stop() }
        let port = try #require(h.proxy.httpsAddresses.first).port
        // The identity provider is another site: the legacy origin, straight, by address.
        let acs = "https://localhost:\(port)/sso-acs"
        let idp = "http://127.0.0.1:\(h.legacy.port)/sso-idp?to=" + (acs.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        let start = "https://localhost:\(port)/sso-start?idp=" + (idp.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        let profile = NSTemporaryDirectory() + "switchyard-chromium-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let result = try runProcess(chromium, [
            "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--user-data-dir=" + profile,
            "--virtual-time-budget=10000", "--dump-dom", start,
        ], standardError: .discarded, timeoutSeconds: 120)
        #expect(result.status == 0, "chromium exit \(result.status)")
        let cookie = try Regex("cookie: SB=[0-9a-f]{16}")
        #expect(result.output.contains(cookie), "the form post came without the sticky cookie: \(result.output.suffix(400))")
        // One bucket for the whole round trip: the post went where the start went.
        let log = (try? String(contentsOfFile: h.accessLogPath, encoding: .utf8)) ?? ""
        let backends = log.split(separator: "\n").filter { $0.contains("/sso-") }
            .compactMap { line in ["\"backend\":\"legacy\"", "\"backend\":\"cloud\""].first { line.contains($0) } }
        #expect(backends.count == 2 && Set(backends).count == 1, "\(log)")
    }
}
