import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
@testable import SwitchyardProxy

/// `listen … proxy-protocol`: the client a balancer names is the client cohorts, stickiness
/// and X-Forwarded-For see; anything else on such a listener is closed unanswered.
@Suite struct ProxyProtocolTests {
    static func parse(_ bytes: [UInt8]) -> ProxyProtocolHeader { bytes.withUnsafeBytes { ProxyProtocolHeader.parse($0) } }

    static func v2(command: UInt8 = 0x21, family: UInt8 = 0x11, body: [UInt8]) -> [UInt8] {
        ProxyProtocolHeader.v2Signature + [command, family, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }

    static let v2IPv4Body: [UInt8] = [198, 51, 100, 9, 127, 0, 0, 1, 0x30, 0x39, 0, 80]

    @Test func parsesWhatBalancersSend() {
        let v1 = Array("PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n".utf8)
        guard case .complete(let length, let source) = Self.parse(v1 + Array("GET".utf8)) else { Issue.record("v1"); return }
        #expect(length == v1.count)
        #expect(source?.ipString == "203.0.113.7")
        guard case .complete(_, let six) = Self.parse(Array("PROXY TCP6 2001:db8::7 ::1 5555 80\r\n".utf8)) else { Issue.record("v1 TCP6"); return }
        #expect(six?.ipString == "2001:db8::7")
        guard case .complete(15, nil) = Self.parse(Array("PROXY UNKNOWN\r\n".utf8)) else { Issue.record("UNKNOWN"); return }
        let binary = Self.v2(body: Self.v2IPv4Body + [0x04, 0x00, 0x01, 0x00])   // one TLV, skipped
        guard case .complete(let l2, let s2) = Self.parse(binary + [0x16, 0x03]) else { Issue.record("v2"); return }
        #expect(l2 == binary.count)
        #expect(s2?.ipString == "198.51.100.9")
        guard case .complete(_, nil) = Self.parse(Self.v2(command: 0x20, family: 0x00, body: [])) else { Issue.record("LOCAL"); return }
        var ipv6 = [UInt8](repeating: 0, count: 36)
        ipv6[0] = 0x20; ipv6[1] = 0x01; ipv6[2] = 0x0d; ipv6[3] = 0xb8; ipv6[15] = 9
        guard case .complete(_, let s6) = Self.parse(Self.v2(family: 0x21, body: ipv6)) else { Issue.record("v2 IPv6"); return }
        #expect(s6?.ipString == "2001:db8::9")
    }

    @Test func partialHeadersWaitAndEveryPrefixIsHeader() {
        let full = Array("PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n".utf8)
        for n in 0..<full.count {
            guard case .needMore = Self.parse(Array(full[0..<n])) else { Issue.record("prefix \(n)"); continue }
        }
        let binary = Self.v2(body: Self.v2IPv4Body)
        for n in 0..<binary.count {
            guard case .needMore = Self.parse(Array(binary[0..<n])) else { Issue.record("v2 prefix \(n)"); continue }
        }
    }

    @Test(arguments: ["GET / HTTP/1.1\r\n", "PROXY TCP4 1.2.3.4\r\n", "PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n", "PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n",
                      "PROXY TCP4 1.2.3.4 1.2.3.4 99999 2\r\n", "PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n", "PROXY SCTP 1.2.3.4 1.2.3.4 1 2\r\n",
                      "PROXY " + String(repeating: "A", count: 120)])
    func refusesWhatIsNotAHeader(_ text: String) {
        guard case .invalid = Self.parse(Array(text.utf8)) else { Issue.record("accepted \(text.debugDescription)"); return }
    }

    @Test func refusesOversizedAndUnknownV2() {
        guard case .invalid = Self.parse(ProxyProtocolHeader.v2Signature + [0x21, 0x11, 0xFF, 0xFF]) else { Issue.record("huge"); return }
        guard case .invalid = Self.parse(ProxyProtocolHeader.v2Signature + [0x31, 0x11, 0, 12] + Self.v2IPv4Body) else { Issue.record("v3"); return }
        guard case .invalid = Self.parse(Self.v2(family: 0x11, body: [1, 2, 3])) else { Issue.record("truncated"); return }
    }

    static let routes = """
        listen http 127.0.0.1:0 proxy-protocol
        access-log ACCESSLOG
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            cohort client 203.0.113.0/24 -> cloud
            active legacy standby cloud
        }
        """

    @Test func theBalancersClientIsTheClientOnRealSockets() throws {
        let h = try ProxyHarness(routes: Self.routes)
        defer { h.stop() }
        // v1, sent in two pieces so the proxy must wait for the rest of the header.
        let first = try h.client()
        first.send("PROXY TCP4 203.0.113.7 127.0.0.1 ")
        usleep(50_000)
        first.send("5555 80\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        let viaCohort = try #require(first.readResponse())
        #expect(viaCohort.header("X-Origin") == "cloud", "cohort client matched the address the balancer named")
        let cloudHead = try #require(h.cloud.requestHeads.last)
        #expect(cloudHead.contains("X-Forwarded-For: 203.0.113.7\r\n"))
        #expect(cloudHead.contains("X-Real-IP: 203.0.113.7\r\n"))
        // v2 (binary), header and request in one write.
        let second = try h.client()
        second.send(Self.v2(body: Self.v2IPv4Body) + Array("GET /b HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        #expect(second.readResponse()?.header("X-Origin") == "legacy")
        #expect(h.legacy.requestHeads.last?.contains("X-Forwarded-For: 198.51.100.9\r\n") == true)
        // No header: closed without an answer, and nothing reaches a backend.
        let third = try h.client()
        third.send("GET /c HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(third.readToEnd().isEmpty)
        #expect(h.legacy.requestCount == 1 && h.cloud.requestCount == 1)
    }

    @Test func onlyATrustedBalancerMaySendTheHeader() throws {
        let routes = Self.routes.replacingOccurrences(of: "proxy-protocol", with: "proxy-protocol trust-forwarded 10.0.0.0/8")
        let h = try ProxyHarness(routes: routes)
        defer { h.stop() }
        let client = try h.client()
        client.send("PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readToEnd().isEmpty, "a loopback peer is not in 10.0.0.0/8: closed")
        #expect(h.cloud.requestCount == 0 && h.legacy.requestCount == 0)
    }

    /// A TCP balancer passes the client's bytes as they came: the forwarding fields in them
    /// are the client's own. Behind a trusted balancer they were believed (the balancer's
    /// trust), so any client could name any address to the backend in X-Real-IP and
    /// X-Forwarded-For. Now they are believed only from a client that is itself in
    /// trust-forwarded (an HTTP proxy behind the balancer).
    @Test func aClientBehindATrustedBalancerCannotNameItsOwnAddress() throws {
        let routes = Self.routes.replacingOccurrences(of: "proxy-protocol", with: "proxy-protocol trust-forwarded 127.0.0.0/8 198.51.100.0/24")
        let h = try ProxyHarness(routes: routes)
        defer { h.stop() }
        let spoofed = "X-Real-IP: 10.9.9.9\r\nX-Forwarded-For: 10.9.9.9\r\nTrue-Client-IP: 10.9.9.9\r\n"
        let client = try h.client()
        client.send("PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\nGET /a HTTP/1.1\r\nHost: a\r\n\(spoofed)\r\n")
        #expect(client.readResponse()?.status == 200)
        let head = try #require(h.cloud.requestHeads.last)   // the cohort sends 203.0.113.0/24 to cloud
        #expect(!head.contains("10.9.9.9"), "the client's own forwarding fields reached the backend")
        #expect(head.contains("X-Forwarded-For: 203.0.113.7\r\n"))
        #expect(head.contains("X-Real-IP: 203.0.113.7\r\n"))
        // A client in trust-forwarded itself keeps its fields, with this hop appended.
        let proxied = try h.client()
        proxied.send(Self.v2(body: Self.v2IPv4Body) + Array("GET /b HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n".utf8))
        #expect(proxied.readResponse()?.status == 200)
        let legacyHead = try #require(h.legacy.requestHeads.last)
        #expect(legacyHead.contains("X-Forwarded-For: 10.1.2.3, 198.51.100.9\r\n"), "\(legacyHead)")
        // A header naming no client (v1 UNKNOWN): the balancer's address stays, not its trust.
        let unknown = try h.client()
        unknown.send("PROXY UNKNOWN\r\nGET /c HTTP/1.1\r\nHost: a\r\n\(spoofed)\r\n")
        #expect(unknown.readResponse()?.status == 200)
        let unknownHead = try #require(h.legacy.requestHeads.last)
        #expect(!unknownHead.contains("10.9.9.9"), "forwarding fields kept on the balancer's trust: \(unknownHead)")
        #expect(unknownHead.contains("X-Forwarded-For: 127.0.0.1\r\n"), "\(unknownHead)")
    }

    @Test
    func theHeaderComesBeforeTLS() throws {
        try requireTools("openssl", "curl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("site", name: "localhost")
        let h = try ProxyHarness(routes: TLSConfigurationTests.httpsRoutes(pki, listenOptions: "proxy-protocol"))
        defer { h.stop() }
        let port = try #require(h.proxy.httpsAddresses.first).port
        let result = TLSConfigurationTests.curl(port, ca: pki.path("site.pem"),
                                                ["--haproxy-protocol", "-o", "/dev/null", "-w", "%{http_code}", "https://localhost:\(port)/a"])
        #expect(result.output == "200", "\(result)")
        #expect(h.legacy.requestHeads.last?.contains("X-Forwarded-Proto: https\r\n") == true)
        let without = TLSConfigurationTests.curl(port, ca: pki.path("site.pem"), ["-o", "/dev/null", "-w", "%{http_code}", "https://localhost:\(port)/a"])
        #expect(without.output == "000", "a TLS client without the header is not served")
    }
}
