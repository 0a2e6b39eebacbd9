import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// A client cannot reach a route through a connection that was not made for it: a route's
/// own certificate must be the one the client checked (else 421), and a route bound to named
/// listeners is not served on the others.
@Suite struct MisdirectedRequestTests {
    @Test(arguments: ["--http1.1", "--http2"])
    func aHostWhoseRouteHasItsOwnCertificateIsRefusedOnAnotherNamesConnection(_ version: String) throws {
        try requireTools("openssl", "curl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("site", name: "localhost")
        try pki.selfSigned("internal", name: "internal.test")
        let h = try ProxyHarness(routes: TLSConfigurationTests.httpsRoutes(pki, extra: """
            route internal {
                host internal.test
                cert \(pki.path("internal.pem")) key \(pki.path("internal.key"))
                backend cloud
            }
            """))
        defer { h.stop() }
        let port = try #require(h.proxy.httpsAddresses.first).port
        // TLS for "localhost" (the listener's certificate), then a request for internal.test.
        let crossed = TLSConfigurationTests.curl(port, ca: pki.path("site.pem"),
                                                 [version, "-H", "Host: internal.test", "-o", "/dev/null", "-w", "%{http_code}",
                                                  "https://localhost:\(port)/secret"])
        #expect(crossed.output == "421", "\(crossed)")
        #expect(h.cloud.requestCount == 0, "a misdirected request never reaches the backend")
        // The same host on its own certificate's connection is served.
        let direct = TLSConfigurationTests.curl(port, host: "internal.test", ca: pki.path("internal.pem"),
                                                [version, "-o", "/dev/null", "-w", "%{http_code}", "https://internal.test:\(port)/secret"])
        #expect(direct.output == "200", "\(direct)")
        #expect(h.cloud.requestCount == 1)
        // Routes without a certificate of their own answer on any name's connection.
        let other = TLSConfigurationTests.curl(port, ca: pki.path("site.pem"),
                                               [version, "-H", "Host: app.test", "-o", "/dev/null", "-w", "%{http_code}",
                                                "https://localhost:\(port)/x"])
        #expect(other.output == "200")
    }

    @Test func aRouteBoundToANamedListenerIsNotServedOnTheOthers() throws {
        let routes = """
            listen http 127.0.0.1:0 name public
            listen http 127.0.0.1:0 name staff
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route admin-tools {
                host tools.internal
                listen staff
                backend cloud
            }
            route app {
                backend legacy
            }
            """
        let h = try ProxyHarness(routes: routes)
        defer { h.stop() }
        #expect(h.proxy.httpAddresses.count == 2)
        let publicClient = try TestClient(port: h.proxy.httpAddresses[0].port)
        let staffClient = try TestClient(port: h.proxy.httpAddresses[1].port)
        publicClient.send("GET /x HTTP/1.1\r\nHost: tools.internal\r\n\r\n")
        #expect(publicClient.readResponse()?.header("X-Origin") == "legacy", "the internal route is not served on the public listener")
        staffClient.send("GET /x HTTP/1.1\r\nHost: tools.internal\r\n\r\n")
        #expect(staffClient.readResponse()?.header("X-Origin") == "cloud")
        #expect(h.cloud.requestCount == 1)
    }
}
