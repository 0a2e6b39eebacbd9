import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardProxy
import SwitchyardSystem

/// A server of a side whose TLS handshake fails (here: a certificate the proxy does not
/// trust, as after a botched renewal on one cloud node) took no byte of the request, so the
/// next server is tried, as for a refused connect — for a form post too. Before, the client
/// got a 502 while the side's other server was fine.
@Suite struct UpstreamTLSFailoverTests {
    @Test func aServerWhoseHandshakeFailsIsSkippedForTheNextOne() throws {
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("site", name: "localhost")
        try pki.selfSigned("stranger", name: "localhost")
        // Two Switchyards serve HTTPS: the first with a certificate the proxy does not trust.
        let strangerRoutes = TLSConfigurationTests.httpsRoutes(pki).replacingOccurrences(of: "site.", with: "stranger.")
        let bad = try ProxyHarness(routes: strangerRoutes)
        defer { bad.stop() }
        let good = try ProxyHarness(routes: TLSConfigurationTests.httpsRoutes(pki))
        defer { good.stop() }
        let badPort = try #require(bad.proxy.httpsAddresses.first).port
        let goodPort = try #require(good.proxy.httpsAddresses.first).port
        let errorLogPath = pki.path("a-error.log")
        let proxy = try ProxyHarness(routes: """
            backend cloud {
                server 127.0.0.1:\(badPort) tls ca \(pki.path("site.pem")) sni localhost
                server 127.0.0.1:\(goodPort) tls ca \(pki.path("site.pem")) sni localhost
            }
            route app {
                backend cloud
            }
            """, errorLog: ErrorLog(path: errorLogPath))
        defer { proxy.stop() }

        // Round robin starts at the first server: the first post meets the bad one.
        for i in 0..<4 {
            let client = try proxy.client()
            let body = "note=\(i)"
            client.send("POST /form HTTP/1.1\r\nHost: app\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                        + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
            let response = try #require(client.readResponse(), "post \(i): no answer")
            #expect(response.status == 200, "post \(i): \(response.status) \(response.text.prefix(120))")
            #expect(response.text.contains("legacy answered POST /form"), "post \(i) went through the good server")
        }
        let log = (try? String(contentsOfFile: errorLogPath, encoding: .utf8)) ?? ""
        #expect(log.contains("certificate verify failed"), "the error log names the bad server's failure: \(log)")
        #expect(proxy.proxy.stats().connectFailures >= 1, "counted against the server like a refused connect")
    }

    /// A server that takes the connection and never finishes the handshake (a hung TLS
    /// terminator: here a socket nobody accepts, whose queue the kernel fills) has the
    /// connect timeout, as a connect would, and the next server is tried. Before, the
    /// handshake ran under the response timeout: a minute's wait, then a 504, the server
    /// never blamed, and every following request had its turn at it.
    @Test func aServerThatNeverFinishesItsHandshakeIsAFailedConnect() throws {
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("site", name: "localhost")
        let good = try ProxyHarness(routes: TLSConfigurationTests.httpsRoutes(pki))
        defer { good.stop() }
        let goodPort = try #require(good.proxy.httpsAddresses.first).port
        let hung = try Socket.listen(on: try #require(SocketAddress(ip: "127.0.0.1", port: 0)), reusePort: false)
        defer { hung.close() }
        let hungPort = try Socket.localAddress(hung).port
        let proxy = try ProxyHarness(routes: """
            backend cloud {
                server 127.0.0.1:\(hungPort) tls ca \(pki.path("site.pem")) sni localhost
                server 127.0.0.1:\(goodPort) tls ca \(pki.path("site.pem")) sni localhost
            }
            route app {
                backend cloud
            }
            """) { settings in
            settings.connectTimeoutMilliseconds = 500
            settings.upstreamTimeoutMilliseconds = 30_000
        }
        defer { proxy.stop() }
        // Apart by more than the 1 s a failed server is skipped for: each post meets the hung
        // server first; from the second on, the good server's connection is a pooled one,
        // which only our flush wakes (before, the failover attached it and sent nothing: 504).
        for i in 0..<3 {
            if i > 0 { usleep(1_300_000) }
            let client = try proxy.client(timeoutSeconds: 20)
            let started = Date()
            client.send("POST /form HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=\(i)")
            let response = try #require(client.readResponse(), "post \(i): no answer")
            #expect(response.status == 200, "post \(i): \(response.status) \(response.text.prefix(120))")
            #expect(Date().timeIntervalSince(started) < 10, "post \(i) waited for the response timeout")
        }
        #expect(proxy.proxy.stats().connectFailures >= 2, "counted against the hung server")
    }

    /// A side whose only server fails its handshake answers as one whose only server
    /// refuses connects: 503, nothing forwarded.
    @Test func aSideWithNoServerThatCompletesAHandshakeAnswers503() throws {
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("site", name: "localhost")
        try pki.selfSigned("stranger", name: "localhost")
        let bad = try ProxyHarness(routes: TLSConfigurationTests.httpsRoutes(pki).replacingOccurrences(of: "site.", with: "stranger."))
        defer { bad.stop() }
        let badPort = try #require(bad.proxy.httpsAddresses.first).port
        let proxy = try ProxyHarness(routes: """
            backend cloud {
                server 127.0.0.1:\(badPort) tls ca \(pki.path("site.pem")) sni localhost
            }
            route app {
                backend cloud
            }
            """)
        defer { proxy.stop() }
        let client = try proxy.client()
        client.send("POST /form HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\n\r\na=1")
        let response = try #require(client.readResponse())
        #expect(response.status == 503)
    }
}

/// A TLS server that answers a form post from its head alone (a 401, the login page) and
/// resets with the body unread: the answer that arrived is the client's, as with a plain
/// server. Before, the TLS writer took the reset for a failed exchange: a 502 instead of
/// the 401 (or a cut answer), counted against the server towards its ejection.
@Suite struct UpstreamTLSEarlyAnswerTests {
    /// A proxy (h2c towards clients) in front of a TLS server that reads a request's head
    /// only, answers 401 with "login", and closes: the unread body makes the close a reset.
    static func rig() throws -> UpstreamTLSEndOfStreamTests.Setup {
        try UpstreamTLSEndOfStreamTests.Setup(head: "HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\nConnection: close\r\n\r\n",
                                              body: Array("login\n".utf8), listen: "listen http 127.0.0.1:0 h2c")
    }

    @Test(arguments: [true, false])
    func anAnswerBeforeTheBodyThenAResetReachesTheClient(_ http2: Bool) throws {
        try requireTools("curl")
        let rig = try Self.rig()
        defer { rig.stop() }
        let seen = try EarlyAnswerTests.post("http://127.0.0.1:\(rig.proxy.port)/notes", rounds: 20, http2: http2)
        #expect(seen.filter { $0 != "401" }.isEmpty, "the 401 that arrived is delivered, not a 502: \(seen)")
        #expect(rig.proxy.proxy.stats().upstreamErrors == 0)
    }
}
