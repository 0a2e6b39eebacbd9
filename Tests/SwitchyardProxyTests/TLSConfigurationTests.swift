import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardSystem

/// What the routes file says about TLS, end to end with curl: ALPN, per-route SNI
/// certificates, certificate reload, upstream TLS verification and mutual TLS — the
/// upstream TLS server being a second Switchyard with its own certificate.
@Suite struct TLSConfigurationTests {
    /// Throwaway PKI made at test time: a CA, certificates it signs, and self-signed ones.
    final class PKI {
        let directory: String

        init() throws {
            directory = NSTemporaryDirectory() + "switchyard-pki-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                         "-subj", "/CN=Switchyard Test CA", "-keyout", path("ca.key"), "-out", path("ca.pem")])
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        func path(_ name: String) -> String { directory + "/" + name }

        /// A self-signed certificate for `name` (its own CA for verification).
        func selfSigned(_ file: String, name: String) throws {
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                         "-subj", "/CN=\(name)", "-addext", "subjectAltName=DNS:\(name),IP:127.0.0.1",
                         "-keyout", path(file + ".key"), "-out", path(file + ".pem")])
        }

        /// A certificate for `name` signed by the CA (a client certificate, for mTLS).
        func signed(_ file: String, name: String) throws {
            try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-subj", "/CN=\(name)", "-keyout", path(file + ".key"), "-out", path(file + ".csr")])
            try openssl(["x509", "-req", "-in", path(file + ".csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                         "-CAcreateserial", "-days", "1", "-out", path(file + ".pem")])
        }

        private func openssl(_ arguments: [String]) throws {
            let status = TLSTerminationTests.run(toolPath("openssl"), arguments).status
            guard status == 0 else { throw Errno(code: EIO, call: "openssl \(arguments.first ?? "")") }
        }
    }

    static func curl(_ port: UInt16, host: String = "localhost", ca: String, _ extra: [String]) -> (status: Int32, output: String) {
        TLSTerminationTests.run(toolPath("curl"), ["-s", "--cacert", ca, "--resolve", "\(host):\(port):127.0.0.1",
                                                  "--max-time", "20"] + extra)
    }

    static func httpsRoutes(_ pki: PKI, listenOptions: String = "", extra: String = "") -> String {
        """
        listen https 127.0.0.1:0 cert \(pki.path("site.pem")) key \(pki.path("site.key")) \(listenOptions)
        access-log ACCESSLOG
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        \(extra)
        route app {
            backend legacy
        }
        """
    }

    @Test func alpnPicksHTTP2OrHTTP1AndTheLogSaysWhich() throws {
        try requireTools("openssl", "curl")
        let pki = try PKI()
        try pki.selfSigned("site", name: "localhost")
        let h = try ProxyHarness(routes: Self.httpsRoutes(pki))
        defer { h.stop() }
        let port = try #require(h.proxy.httpsAddresses.first).port
        let url = "https://localhost:\(port)/a"
        let h2 = Self.curl(port, ca: pki.path("site.pem"), ["--http2", "-w", "%{http_version}", "-o", "/dev/null", url])
        let h1 = Self.curl(port, ca: pki.path("site.pem"), ["--http1.1", "-w", "%{http_version}", "-o", "/dev/null", url])
        #expect(h2.output == "2", "a client offering h2 gets HTTP/2")
        #expect(h1.output == "1.1", "a client offering only http/1.1 gets it")
        // The access log is written in batches: wait for both lines.
        var log = ""
        _ = waitUntil(5) {
            log = (try? String(contentsOfFile: h.accessLogPath, encoding: .utf8)) ?? ""
            return log.split(separator: "\n").count >= 2
        }
        #expect(log.contains("\"proto\":\"h2\",\"tls\":\"TLSv1.3\""))
        #expect(log.contains("\"proto\":\"h1\",\"tls\":\"TLSv1.3\""))
        let stats = h.proxy.stats()
        #expect(stats.tls13Handshakes == 2 && stats.h2Requests == 1 && stats.h2Connections == 1)

        let http1Only = try ProxyHarness(routes: Self.httpsRoutes(pki, listenOptions: "http1"))
        defer { http1Only.stop() }
        let port1 = try #require(http1Only.proxy.httpsAddresses.first).port
        let offered = Self.curl(port1, ca: pki.path("site.pem"), ["--http2", "-w", "%{http_version}", "-o", "/dev/null",
                                                                   "https://localhost:\(port1)/a"])
        #expect(offered.output == "1.1", "`listen https … http1` does not offer h2")
    }

    @Test func aRouteHostPicksItsCertificateBySNI() throws {
        try requireTools("openssl", "curl")
        let pki = try PKI()
        try pki.selfSigned("site", name: "localhost")
        try pki.selfSigned("clinic", name: "clinic.test")
        let h = try ProxyHarness(routes: Self.httpsRoutes(pki, extra: """
            route clinic {
                host clinic.test
                cert \(pki.path("clinic.pem")) key \(pki.path("clinic.key"))
                backend cloud
            }
            """))
        defer { h.stop() }
        let port = try #require(h.proxy.httpsAddresses.first).port
        // Each verification trusts one certificate only: it passes only if that one was served.
        let clinic = Self.curl(port, host: "clinic.test", ca: pki.path("clinic.pem"), ["https://clinic.test:\(port)/x"])
        #expect(clinic.status == 0)
        #expect(clinic.output.contains("cloud answered GET /x"))
        let other = Self.curl(port, ca: pki.path("site.pem"), ["https://localhost:\(port)/y"])
        #expect(other.status == 0, "unknown names get the listener's default certificate")
        #expect(other.output.contains("legacy answered GET /y"))
        let wrong = Self.curl(port, host: "clinic.test", ca: pki.path("site.pem"), ["https://clinic.test:\(port)/x"])
        #expect(wrong.status == 60, "the clinic name is not served the default certificate (curl: 60 = peer certificate not trusted)")
    }

    @Test func reloadReadsRenewedCertificatesRefusesBadOnesAndKeepsOpenConnections() throws {
        try requireTools("openssl", "curl")
        let pki = try PKI()
        try pki.selfSigned("site", name: "localhost")
        try pki.selfSigned("renewed", name: "localhost")
        let h = try ProxyHarness(routes: Self.httpsRoutes(pki))
        defer { h.stop() }
        let port = try #require(h.proxy.httpsAddresses.first).port
        let url = "https://localhost:\(port)"
        #expect(Self.curl(port, ca: pki.path("site.pem"), ["\(url)/a"]).status == 0)

        // A slow request is in flight on an open connection while the certificate changes.
        let inFlight = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var slow: (status: Int32, output: String) = (-1, "")
        let trusted = pki.path("site.pem")
        Thread.detachNewThread {
            slow = Self.curl(port, ca: trusted, ["\(url)/slow?ms=1500"])
            inFlight.signal()
        }
        try waitFor("the slow request to reach the origin", seconds: 10) { h.legacy.requestHeads.contains { $0.hasPrefix("GET /slow") } }

        // The renewed files replace the old ones under the same paths, then a reload.
        #expect(rename(pki.path("renewed.pem"), pki.path("site.pem")) == 0)
        #expect(rename(pki.path("renewed.key"), pki.path("site.key")) == 0)
        let config = try RoutesConfig.parse(Self.httpsRoutes(pki)
            .replacingOccurrences(of: "LEGACY", with: "\(h.legacy.port)").replacingOccurrences(of: "CLOUD", with: "\(h.cloud.port)")
            .replacingOccurrences(of: "ACCESSLOG", with: h.accessLogPath), file: "test.routes")
        try h.proxy.publish(RouteTable.build(config: config, state: RuntimeState(), generation: 2), reloadingCertificates: true)
        try inFlight.wait(seconds: 30, for: "curl's slow request on the open connection")
        #expect(slow.status == 0 && slow.output.contains("answered slowly"), "the open connection finished its request")
        // site.pem now holds the renewed certificate: trusting it works only if it is served.
        #expect(Self.curl(port, ca: pki.path("site.pem"), ["\(url)/b"]).status == 0, "new connections get the renewed certificate")

        // A reload naming a missing key is refused and changes nothing.
        let broken = try RoutesConfig.parse(Self.httpsRoutes(pki)
            .replacingOccurrences(of: "site.key", with: "missing.key")
            .replacingOccurrences(of: "LEGACY", with: "\(h.legacy.port)").replacingOccurrences(of: "CLOUD", with: "\(h.cloud.port)")
            .replacingOccurrences(of: "ACCESSLOG", with: h.accessLogPath), file: "test.routes")
        #expect(throws: ProxyError.self) {
            try h.proxy.publish(RouteTable.build(config: broken, state: RuntimeState(), generation: 3), reloadingCertificates: true)
        }
        #expect(h.proxy.table.generation == 2)
        #expect(Self.curl(port, ca: pki.path("site.pem"), ["\(url)/c"]).status == 0, "still serving the renewed certificate")
        #expect(Proxy.certificateProblems(broken, file: "test.routes").first?.hasPrefix("test.routes:1:1: listen https") == true,
                "check names the line")
    }

    /// Proxy A forwards to proxy B's `listen https` (B's own certificate, optionally
    /// requiring a client certificate); returns A's answer and A's error log.
    func throughUpstreamTLS(_ pki: PKI, serverOptions: String, requireClientCertificate: Bool = false) throws -> (TestClient.Response, String) {
        let b = try ProxyHarness(routes: Self.httpsRoutes(pki, listenOptions: requireClientCertificate ? "client-ca \(pki.path("ca.pem"))" : ""))
        defer { b.stop() }
        let bPort = try #require(b.proxy.httpsAddresses.first).port
        let errorLogPath = pki.path("a-error-\(UUID().uuidString).log")
        let a = try ProxyHarness(routes: """
            backend secure {
                server 127.0.0.1:\(bPort) tls \(serverOptions)
            }
            route app {
                backend secure
            }
            """, errorLog: ErrorLog(path: errorLogPath))
        defer { a.stop() }
        let client = try a.client()
        client.send("GET /through HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try #require(client.readResponse())
        return (response, (try? String(contentsOfFile: errorLogPath, encoding: .utf8)) ?? "")
    }

    @Test func upstreamTLSVerifiesNameAndIssuer() throws {
        try requireTools("openssl", "curl")
        let pki = try PKI()
        try pki.selfSigned("site", name: "localhost")
        try pki.selfSigned("stranger", name: "localhost")

        let (good, _) = try throughUpstreamTLS(pki, serverOptions: "ca \(pki.path("site.pem")) sni localhost")
        #expect(good.status == 200)
        #expect(good.text.contains("legacy answered GET /through"), "proxied through B to B's backend")

        // A handshake that fails is a server that cannot be used, as a refused connect is:
        // with no other server, 503 (UpstreamTLSFailoverTests: the next server is tried).
        let (wrongName, log1) = try throughUpstreamTLS(pki, serverOptions: "ca \(pki.path("site.pem")) sni wrong.test")
        #expect(wrongName.status == 503)
        #expect(log1.contains("hostname mismatch"), "the error log says why: \(log1)")

        let (untrusted, log2) = try throughUpstreamTLS(pki, serverOptions: "ca \(pki.path("stranger.pem")) sni localhost")
        #expect(untrusted.status == 503)
        #expect(log2.contains("certificate verify failed"), "the error log says why: \(log2)")
    }

    @Test func upstreamClientCertificateForMutualTLS() throws {
        try requireTools("openssl", "curl")
        let pki = try PKI()
        try pki.selfSigned("site", name: "localhost")
        try pki.signed("client", name: "switchyard-a")

        let (withCertificate, _) = try throughUpstreamTLS(
            pki, serverOptions: "ca \(pki.path("site.pem")) sni localhost cert \(pki.path("client.pem")) key \(pki.path("client.key"))",
            requireClientCertificate: true)
        #expect(withCertificate.status == 200)
        #expect(withCertificate.text.contains("legacy answered GET /through"))

        let (without, _) = try throughUpstreamTLS(pki, serverOptions: "ca \(pki.path("site.pem")) sni localhost",
                                                  requireClientCertificate: true)
        #expect(without.status == 502, "B refuses a client without a certificate")
    }

    /// "`noverify` must be written out and is warned about at start": the error log says so
    /// for that server, and says nothing for a verified one.
    @Test func noverifyIsWarnedAboutAtStart() throws {
        let errorLogPath = NSTemporaryDirectory() + "switchyard-noverify-\(UUID().uuidString).log"
        defer { unlink(errorLogPath) }
        let h = try ProxyHarness(routes: """
            backend legacy {
                server 127.0.0.1:LEGACY tls
            }
            backend cloud {
                server 127.0.0.1:CLOUD tls noverify
            }
            route app {
                backend legacy
            }
            route other {
                path /other/
                backend cloud
            }
            """, errorLog: ErrorLog(path: errorLogPath))
        defer { h.stop() }
        let log = (try? String(contentsOfFile: errorLogPath, encoding: .utf8)) ?? ""
        #expect(log.contains("backend cloud server 127.0.0.1:\(h.cloud.port): TLS certificate verification is OFF (noverify)"), "\(log)")
        #expect(!log.contains("backend legacy server"), "a verified server is not warned about: \(log)")
    }
}
