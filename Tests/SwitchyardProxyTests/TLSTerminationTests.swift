import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy
import SwitchyardSystem

/// TLS termination on `listen https`, with a throwaway certificate made at test time (no
/// private key is committed) and curl as the client.
@Suite struct TLSTerminationTests {
    final class Certificate {
        let directory: String
        var cert: String { directory + "/cert.pem" }
        var key: String { directory + "/key.pem" }

        init() throws {
            directory = NSTemporaryDirectory() + "switchyard-tls-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let status = run(toolPath("openssl"), ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                  "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                                  "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                                                  "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem"]).status
            guard status == 0 else { throw TestPrecondition("openssl could not make a test certificate") }
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }
    }

    static func run(_ path: String, _ arguments: [String], timeoutSeconds: Double = 60) -> (status: Int32, output: String) {
        do {
            return try runProcess(path, arguments, standardError: .discarded, timeoutSeconds: timeoutSeconds)
        } catch {
            return (-1, "\(error)")
        }
    }

    func harness(_ certificate: Certificate, settings: ((inout ProxySettings) -> Void)? = nil) throws -> (ProxyHarness, UInt16) {
        let h = try ProxyHarness(routes: """
            listen https 127.0.0.1:0 cert \(certificate.cert) key \(certificate.key)
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            route app {
                split legacy 100% cloud 0%
                sticky cookie SB
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            """, settings: settings)
        return (h, try #require(h.proxy.httpsAddresses.first).port)
    }

    func curl(_ port: UInt16, _ certificate: Certificate, _ extra: [String]) -> (status: Int32, output: String) {
        Self.run(toolPath("curl"), ["-s", "--http1.1", "--cacert", certificate.cert, "--resolve", "localhost:\(port):127.0.0.1",
                                   "--max-time", "20"] + extra)
    }

    @Test func curlOverTLSReachesTheBackendWithHTTPSForwardingHeaders() throws {
        try requireTools("openssl", "curl")
        let certificate = try Certificate()
        let (h, port) = try harness(certificate)
        defer { h.stop() }
        let result = curl(port, certificate, ["-i", "https://localhost:\(port)/a", "https://localhost:\(port)/headers"])
        #expect(result.status == 0)
        #expect(result.output.contains("legacy answered GET /a"))
        #expect(result.output.contains("X-Forwarded-Proto: https"))
        #expect(result.output.contains(";proto=https"))
        let cookie = try Regex("\r\nSet-Cookie: SB=[0-9a-f]{16}; Path=/; Max-Age=34560000; HttpOnly; SameSite=None; Secure\r\n")
        #expect(result.output.contains(cookie), "the sticky cookie, exactly, and Secure on TLS listeners: \(result.output)")
        #expect(h.legacy.connectionCount == 1, "both requests shared one upstream connection")
    }

    /// Over TLS a fallback cookie `NAME-legacy` (same token, no SameSite) comes beside the
    /// sticky cookie, over HTTP/1.1 and HTTP/2, and a request sending only it keeps its
    /// bucket: no new cookie. Browsers that refuse `SameSite=None` (Chrome 51–66) or treat
    /// it as Strict (Safari on iOS 12, on the identity provider's cross-site POST) send only
    /// the fallback; before, they drew a new bucket and could land on the other side.
    @Test func aFallbackCookieWithoutSameSiteKeepsTheBucketForOldBrowsers() throws {
        try requireTools("openssl", "curl")
        let certificate = try Certificate()
        let (h, port) = try harness(certificate)
        defer { h.stop() }
        let first = curl(port, certificate, ["-i", "https://localhost:\(port)/a"])
        let pair = try Regex("\r\nSet-Cookie: SB=([0-9a-f]{16}); Path=/; Max-Age=34560000; HttpOnly; SameSite=None; Secure\r\nSet-Cookie: SB-legacy=([0-9a-f]{16}); Path=/; Max-Age=34560000; HttpOnly; Secure\r\n")
        let match = try #require(first.output.firstMatch(of: pair), "both cookies, exactly: \(first.output)")
        let token = String(match.output[1].substring ?? "")
        #expect(token == String(match.output[2].substring ?? ""), "one token in both")
        let legacyOnly = curl(port, certificate, ["-i", "-H", "Cookie: other=1; SB-legacy=\(token)", "https://localhost:\(port)/a"])
        #expect(legacyOnly.output.contains("legacy answered GET /a"), "\(legacyOnly.output)")
        #expect(!legacyOnly.output.lowercased().contains("set-cookie"), "the fallback kept the bucket: no new cookie: \(legacyOnly.output)")
        let both = curl(port, certificate, ["-i", "-H", "Cookie: SB=\(token); SB-legacy=\(token)", "https://localhost:\(port)/a"])
        #expect(!both.output.lowercased().contains("set-cookie"), "\(both.output)")
        // HTTP/2 issues the pair too.
        let h2 = Self.run(toolPath("curl"), ["-s", "-i", "--http2", "--cacert", certificate.cert, "--resolve", "localhost:\(port):127.0.0.1",
                                              "--max-time", "20", "https://localhost:\(port)/a"])
        #expect(h2.output.contains("HTTP/2 200"), "\(h2.output)")
        #expect(h2.output.contains("set-cookie: SB-legacy=") && h2.output.contains("SameSite=None; Secure"), "\(h2.output)")
    }

    /// "TLS 1.2 and 1.3 … modern ciphers only": a client that offers only TLS 1.0 or 1.1
    /// (and would accept any cipher) gets no session; the same client offering TLS 1.2 does.
    @Test func tls10And11AreRefused() throws {
        try requireTools("openssl", "curl")
        let certificate = try Certificate()
        let (h, port) = try harness(certificate)
        defer { h.stop() }
        func handshake(_ version: String) throws -> String {
            try runProcess(try tool("openssl"), ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost",
                                                  version, "-cipher", "DEFAULT@SECLEVEL=0"], timeoutSeconds: 20).output
        }
        let control = try handshake("-tls1_2")
        #expect(control.contains("Protocol  : TLSv1.2") && !control.contains("Cipher is (NONE)"), "the control handshake works: \(control)")
        for version in ["-tls1", "-tls1_1"] {
            let output = try handshake(version)
            #expect(!output.contains("no protocols available"), "the client really offered \(version): \(output)")
            #expect(output.contains("alert protocol version"), "\(version) is refused with protocol_version: \(output)")
            #expect(output.contains("Cipher is (NONE)"), "no session: \(output)")
        }
        #expect(h.legacy.connectionCount == 0)
    }

    /// Resumption from the server's session cache: one stateful ticket per TLS 1.3
    /// handshake, and the session survives a client that vanishes without close_notify
    /// (killed after its answer), for TLS 1.3 tickets and TLS 1.2 session ids alike.
    @Test(arguments: ["-tls1_3", "-tls1_2"])
    func sessionsResumeAfterAClientVanishes(version: String) throws {
        try requireTools("openssl", "curl", "sh", "timeout")
        let certificate = try Certificate()
        let (h, port) = try harness(certificate)
        defer { h.stop() }
        let session = certificate.directory + "/session.pem"
        // The request is answered (so TLS 1.3's ticket has arrived), then the client is
        // killed with the connection still open: no close_notify, no FIN first.
        func connect(_ sessionFlags: String) throws -> String {
            let script = "(printf 'GET /a HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n'; sleep 5) | "
                + "timeout -s KILL 2 \(try tool("openssl")) s_client -connect 127.0.0.1:\(port) -servername localhost "
                + "\(version) -msg -ign_eof \(sessionFlags) 2>&1; true"
            return try runProcess(try tool("sh"), ["-c", script], timeoutSeconds: 30).output
        }
        let first = try connect("-sess_out \(session)")
        #expect(first.contains("legacy answered GET /a"), "the first connection was served: \(first)")
        #expect(first.contains("New, TLSv1"), "a full handshake first: \(first)")
        if version == "-tls1_3" {
            let tickets = first.components(separatedBy: "\n").filter { $0.hasPrefix("<<<") && $0.contains("NewSessionTicket") }
            #expect(tickets.count == 1, "exactly one ticket: \(tickets)")
        }
        let second = try connect("-sess_in \(session)")
        #expect(second.contains("Reused, TLSv1"), "the vanished client's session is resumed: \(second)")
        #expect(second.contains("legacy answered GET /a"))
    }

    /// A TLS 1.3 client that completes its handshake and sends nothing (a TLS health check,
    /// a scanner, a browser's unused preconnect) is sent no session ticket: the ticket waits
    /// for the client's first bytes and leaves with the answer (one, as above).
    @Test func aClientThatAsksNothingIsSentNoTicket() throws {
        try requireTools("openssl", "curl", "sh", "timeout")
        let certificate = try Certificate()
        let (h, port) = try harness(certificate)
        defer { h.stop() }
        let script = "sleep 3 | timeout -s KILL 2 \(try tool("openssl")) s_client -connect 127.0.0.1:\(port) "
            + "-servername localhost -tls1_3 -msg -ign_eof 2>&1; true"
        let output = try runProcess(try tool("sh"), ["-c", script], timeoutSeconds: 30).output
        #expect(output.contains("New, TLSv1.3"), "the handshake completed: \(output)")
        let tickets = output.components(separatedBy: "\n").filter { $0.hasPrefix("<<<") && $0.contains("NewSessionTicket") }
        #expect(tickets.isEmpty, "no ticket for a client that asked nothing: \(tickets)")
        #expect(h.legacy.connectionCount == 0)
    }

    /// "no renegotiation": a TLS 1.2 client asking to renegotiate after the handshake is
    /// refused with the no_renegotiation alert.
    @Test func renegotiationIsRefused() throws {
        try requireTools("openssl", "curl", "sh")
        let certificate = try Certificate()
        let (h, port) = try harness(certificate)
        defer { h.stop() }
        // `R` on s_client's input asks for a renegotiation once the session is up.
        let script = "(sleep 1; echo R; sleep 2) | \(try tool("openssl")) s_client -connect 127.0.0.1:\(port) -servername localhost -tls1_2"
        let output = try runProcess(try tool("sh"), ["-c", script], timeoutSeconds: 30).output
        #expect(output.contains("Protocol  : TLSv1.2"), "the handshake itself works: \(output)")
        #expect(output.contains("RENEGOTIATING"), "the client asked: \(output)")
        #expect(output.contains("no renegotiation"), "and was refused: \(output)")
    }

    @Test func largeBodiesBothWaysOverTLS() throws {
        try requireTools("openssl", "curl")
        let certificate = try Certificate()
        let (h, port) = try harness(certificate)
        defer { h.stop() }
        let upload = certificate.directory + "/upload.bin"
        #expect(FileManager.default.createFile(atPath: upload, contents: Data(repeating: 0x41, count: 20 << 20)))
        let up = curl(port, certificate, ["--data-binary", "@" + upload, "https://localhost:\(port)/discard"])
        #expect(up.output == "\(20 << 20)\n")
        let down = curl(port, certificate, ["-o", "/dev/null", "-w", "%{size_download}", "https://localhost:\(port)/big?bytes=\(30 << 20)"])
        #expect(down.output == "\(30 << 20)")
    }

    @Test func garbageStalledAndVanishingHandshakesAreClosedAndLeakNothing() throws {
        try requireTools("openssl", "curl")
        let certificate = try Certificate()
        let (h, port) = try harness(certificate) { $0.headerTimeoutMilliseconds = 300 }
        defer { h.stop() }
        // The proxy's own descriptors (the test process's /proc/self/fd moves with
        // whatever other tests do in parallel).
        let before = h.proxy.registeredDescriptors()
        for i in 0..<1_000 {
            let client = try TestClient(port: port, timeoutSeconds: 5)
            if i % 3 == 0 {
                client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")   // plain HTTP to a TLS port
                _ = client.readToEnd()
            } else if i % 3 == 1 {
                client.send([0x16, 0x03, 0x01, 0x00])              // a ClientHello cut short, then gone
            }
            // i % 3 == 2: connect and vanish at once
        }
        // A client that says nothing is closed within the head timeout.
        let silent = try TestClient(port: port, timeoutSeconds: 5)
        let started = Date()
        #expect(silent.readToEnd().isEmpty)
        #expect(Date().timeIntervalSince(started) < 3)
        // Closed connections linger up to 1 s before their descriptors go.
        _ = waitUntil(5) { h.proxy.registeredDescriptors() == before && h.proxy.stats().openConnections == 0 }
        let after = h.proxy.registeredDescriptors()
        #expect(after == before, "descriptors leaked: \(before) → \(after)")
        #expect(h.proxy.stats().openConnections == 0)
        #expect(h.legacy.requestCount == 0)
        // And the listener still serves.
        #expect(curl(port, certificate, ["https://localhost:\(port)/ok"]).output.contains("legacy answered"))
    }
}
