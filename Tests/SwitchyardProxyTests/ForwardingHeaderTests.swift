import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardOrigin
import SwitchyardProxy

/// The proxy is the edge: a client cannot tell a backend another address, scheme, host or
/// generation — on HTTP/1.1 and HTTP/2 — unless its address is in `trust-forwarded`.
@Suite struct ForwardingHeaderTests {
    /// Every client-supplied identity field a backend might believe, with a value that must
    /// never reach it.
    static let forged: [(name: String, value: String)] = [
        ("X-Forwarded-For", "6.6.6.6"),
        ("Forwarded", "for=6.6.6.6;proto=https"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Port", "4443"),
        ("X-Real-IP", "6.6.6.7"),
        ("True-Client-IP", "6.6.6.8"),
        ("X-Client-IP", "6.6.6.9"),
        ("X-Original-URL", "/admin"),
        ("X-Rewrite-URL", "/admin2"),
        ("X_Forwarded_For", "6.6.6.10"),
        ("X-Switchyard-Generation", "999"),
        // `_` for `-`: a backend that folds the two (CGI-style) would read these as ours.
        ("X_Switchyard_Generation", "g998"),
        ("X_Request_ID", "forged-request-id"),
    ]

    static var forgedHeaderLines: String { forged.map { "\($0.name): \($0.value)\r\n" }.joined() }

    /// What the origin saw for the one request it received.
    static func originHead(_ h: ProxyHarness) throws -> String {
        try #require(h.legacy.requestHeads.last)
    }

    static func expectEdgeFields(_ head: String, scheme: String, host: String) {
        #expect(head.contains("X-Forwarded-For: 127.0.0.1\r\n"))
        #expect(head.contains("X-Real-IP: 127.0.0.1\r\n"))
        #expect(head.contains("X-Forwarded-Proto: \(scheme)\r\n"))
        #expect(head.contains("X-Forwarded-Host: \(host)\r\n"))
        #expect(head.contains("Forwarded: for=127.0.0.1;proto=\(scheme)\r\n"))
        #expect(head.contains("X-Switchyard-Generation: 1\r\n"))
        // Our own random request ID may hold any digits ("999", "4443"): not the client's;
        // nor is the listener's port in Host and X-Forwarded-Host ("127.0.0.1:32999").
        let withoutRequestID = head.components(separatedBy: "\r\n").filter { !$0.lowercased().hasPrefix("x-request-id:") }
            .joined(separator: "\r\n").replacingOccurrences(of: host, with: "")
        for (name, value) in forged {
            #expect(!withoutRequestID.contains(value), "the client's \(name): \(value) reached the backend")
        }
        for name in ["X-Forwarded-Port", "True-Client-IP", "X-Client-IP", "X-Original-URL", "X-Rewrite-URL", "X_Forwarded_For",
                     "X_Switchyard_Generation", "X_Request_ID"] {
            #expect(!head.lowercased().contains(name.lowercased() + ":"), "\(name) reached the backend")
        }
        // Exactly one of each field we write.
        for name in ["X-Forwarded-For:", "X-Real-IP:", "X-Forwarded-Proto:", "X-Forwarded-Host:", "Forwarded:", "X-Switchyard-Generation:"] {
            let count = head.lowercased().components(separatedBy: "\r\n" + name.lowercased()).count - 1
            #expect(count == 1, "\(name) appears \(count) times")
        }
    }

    @Test func http1ClientCopiesAreDroppedAndOursWritten() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        client.send("GET /x HTTP/1.1\r\nHost: app.example\r\n\(Self.forgedHeaderLines)\r\n")
        #expect(client.readResponse()?.status == 200)
        Self.expectEdgeFields(try Self.originHead(h), scheme: "http", host: "app.example")
    }

    @Test
    func http2ClientCopiesAreDroppedAndOursWritten() throws {
        try requireTools("curl")
        let h = try ProxyHarness(routes: "listen http 127.0.0.1:0 h2c\naccess-log ACCESSLOG\n" + ProxyHarness.simpleRoutes)
        defer { h.stop() }
        var arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--http2-prior-knowledge",
                         "--max-time", "20", "http://127.0.0.1:\(h.port)/x"]
        for (name, value) in Self.forged where !name.contains("_") {   // curl refuses nothing, but h2 names are lower-case tokens
            arguments += ["-H", "\(name): \(value)"]
        }
        let result = HTTP2Tests.run(toolPath("curl"), arguments)
        #expect(result.status == 0)
        #expect(result.output == "200 2")
        Self.expectEdgeFields(try Self.originHead(h), scheme: "http", host: "127.0.0.1:\(h.port)")
    }

    @Test func trustedPeerKeepsItsFieldsAndGetsThisHopAppended() throws {
        let h = try ProxyHarness(routes: "trust-forwarded 127.0.0.0/8\n" + ProxyHarness.simpleRoutes)
        defer { h.stop() }
        let client = try h.client()
        client.send("GET /x HTTP/1.1\r\nHost: app.example\r\n\(Self.forgedHeaderLines)\r\n")
        #expect(client.readResponse()?.status == 200)
        let head = try Self.originHead(h)
        // X_Forwarded_For is read as X-Forwarded-For (servers fold '_' into '-'): one field.
        #expect(head.contains("X-Forwarded-For: 6.6.6.6, 6.6.6.10, 127.0.0.1\r\n"))
        #expect(head.contains("Forwarded: for=6.6.6.6;proto=https, for=127.0.0.1;proto=http\r\n"))
        #expect(head.contains("X-Forwarded-Proto: https\r\n"))
        #expect(head.contains("X-Forwarded-Host: evil.example\r\n"))
        #expect(head.contains("X-Real-IP: 6.6.6.7\r\n"))
        #expect(head.contains("X-Forwarded-Port: 4443\r\n"))
        #expect(head.contains("True-Client-IP: 6.6.6.8\r\n"))
        #expect(!head.contains("X-Real-IP: 127.0.0.1"), "a trusted hop's X-Real-IP is not doubled")
        // The generation header is always ours, even behind a trusted hop.
        #expect(head.contains("X-Switchyard-Generation: 1\r\n"))
        #expect(!head.contains("X-Switchyard-Generation: 999"), "the forged generation is dropped (a random request ID may hold the digits 999)")
    }

    @Test func aListenersOwnTrustListReplacesTheFilesList() throws {
        // The file trusts loopback, this listener trusts only 10.0.0.0/8: loopback is the edge here.
        let routes = "listen http 127.0.0.1:0 trust-forwarded 10.0.0.0/8\naccess-log ACCESSLOG\ntrust-forwarded 127.0.0.0/8\n"
            + ProxyHarness.simpleRoutes
        let h = try ProxyHarness(routes: routes)
        defer { h.stop() }
        let client = try h.client()
        client.send("GET /x HTTP/1.1\r\nHost: app.example\r\n\(Self.forgedHeaderLines)\r\n")
        #expect(client.readResponse()?.status == 200)
        Self.expectEdgeFields(try Self.originHead(h), scheme: "http", host: "app.example")
    }
}

/// The target a backend receives is exactly the path the router saw, and routing reads a
/// normalised path so that other spellings of a moved path cannot reach the old side.
@Suite struct RequestTargetForwardingTests {
    @Test func absoluteFormWithEmptyPathIsForwardedAsSlash() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        client.send("GET http://internal.example:8901?x=1 HTTP/1.1\r\nHost: internal.example:8901\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
        client.send("GET http://internal.example HTTP/1.1\r\nHost: internal.example\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
        client.send("GET http://internal.example/a/b?y=2 HTTP/1.1\r\nHost: internal.example\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
        let heads = h.legacy.requestHeads
        #expect(heads.count == 3)
        #expect(heads.first?.hasPrefix("GET /?x=1 HTTP/1.1\r\n") == true, "\(heads.first ?? "")")
        #expect(heads.dropFirst().first?.hasPrefix("GET / HTTP/1.1\r\n") == true)
        #expect(heads.last?.hasPrefix("GET /a/b?y=2 HTTP/1.1\r\n") == true)
    }

    @Test func http10AbsoluteFormWithoutHostIsRoutedByItsAuthority() throws {
        let routes = """
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route moved {
                host charting.example
                backend cloud
            }
            route rest {
                backend legacy
            }
            """
        let h = try ProxyHarness(routes: routes)
        defer { h.stop() }
        let client = try h.client()
        client.send("GET http://charting.example/chart HTTP/1.0\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.header("X-Origin") == "cloud", "routed by the target's host, not the catch-all")
        let head = try #require(h.cloud.requestHeads.last)
        #expect(head.hasPrefix("GET /chart HTTP/1.1\r\n"))
        #expect(head.contains("\r\nHost: charting.example\r\n"), "the authority is sent as Host")
        #expect(h.legacy.requestCount == 0)
    }

    /// HTTP/1.0 in origin form may name no host; HTTP/1.1 must (a backend answers 400 and
    /// closes without one). The backend gets the address the client connected to, and its
    /// connection stays pooled for the next request.
    @Test func http10WithoutHostGetsTheListenersAddressAsHost() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        for _ in 0..<2 {
            let client = try h.client()
            client.send("GET /headers HTTP/1.0\r\n\r\n")
            let response = try #require(client.readResponse())
            #expect(response.status == 200)
        }
        let head = try #require(h.legacy.requestHeads.last)
        #expect(head.hasPrefix("GET /headers HTTP/1.1\r\n"))
        #expect(head.contains("\r\nHost: 127.0.0.1:\(h.port)\r\n"), "\(head)")
        #expect(!head.contains("X-Forwarded-Host"), "the client named no host")
        #expect(h.legacy.connectionCount == 1, "the upstream connection was reused")
    }

    @Test(arguments: ["/%61uth/login", "/./auth/login", "//auth/login", "/x/../auth/login", "/auth;x/login",
                      "/%2e%2e/auth/login", "/auth/./login", "/AUTH/../auth/login"])
    func otherSpellingsOfAMovedPathRouteLikeIt(_ path: String) throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        let response = try #require(client.get(path))
        #expect(response.header("X-Origin") == "cloud", "\(path) must reach the /auth/ route's side")
        // Forwarded with the bytes the client sent: the backend normalises as it always did.
        #expect(h.cloud.requestHeads.last?.hasPrefix("GET \(path) HTTP/1.1\r\n") == true)
        #expect(h.legacy.requestCount == 0)
    }

    @Test(arguments: ["/authx", "/%2Fauth/login", "/au%74hx", "/"])
    func pathsThatAreNotTheMovedPathStay(_ path: String) throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        #expect(client.get(path)?.header("X-Origin") == "legacy", "\(path)")
    }

    @Test func pathCohortsReadTheNormalisedPathToo() throws {
        let routes = """
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route app {
                cohort path /reports/ -> cloud
                active legacy standby cloud
            }
            """
        let h = try ProxyHarness(routes: routes)
        defer { h.stop() }
        let client = try h.client()
        #expect(client.get("/reports/1")?.header("X-Origin") == "cloud")
        #expect(client.get("/%72eports/1")?.header("X-Origin") == "cloud")
        #expect(client.get("/a/..//reports;v=2/1")?.header("X-Origin") == "cloud")
        #expect(client.get("/report/1")?.header("X-Origin") == "legacy")
    }
}

/// Refused and unrouted requests in the access log: never silent, never blamed on a route.
@Suite struct AccessLogAttributionTests {
    static func logLines(_ h: ProxyHarness, atLeast count: Int) -> [String] {
        let deadline = Date().addingTimeInterval(10)
        while true {
            let text = (try? String(contentsOfFile: h.accessLogPath, encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n").map(String.init)
            if lines.count >= count || Date() > deadline { return lines }
            usleep(20_000)
        }
    }

    @Test func a400IsLoggedWithItsReasonAndNoRoute() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        client.send("GET /x HTTP/1.1\r\nHost: a\r\nBad Name: y\r\n\r\n")
        #expect(client.readResponse()?.status == 400)
        let lines = Self.logLines(h, atLeast: 1)
        let line = try #require(lines.first)
        #expect(line.contains("\"status\":400"))
        #expect(line.contains("\"route\":\"-\""))
        #expect(line.contains("\"backend\":\"-\""))
        #expect(line.contains("\"reason\":\""))
        #expect(h.legacy.requestCount == 0)
    }

    @Test func a404IsNeverAttributedToThePreviousRequestsRoute() throws {
        let routes = """
            access-log ACCESSLOG
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            route known {
                host known.example
                backend legacy
            }
            """
        let h = try ProxyHarness(routes: "listen http 127.0.0.1:0\n" + routes)
        defer { h.stop() }
        let client = try h.client()
        client.send("GET /a HTTP/1.1\r\nHost: known.example\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
        client.send("GET /b HTTP/1.1\r\nHost: unknown.example\r\n\r\n")
        #expect(client.readResponse()?.status == 404)
        let lines = Self.logLines(h, atLeast: 2)
        #expect(lines.count == 2)
        #expect(lines.first?.contains("\"route\":\"known\"") == true)
        #expect(lines.last?.contains("\"status\":404") == true)
        #expect(lines.last?.contains("\"route\":\"-\"") == true, "\(lines.last ?? "")")
        #expect(lines.last?.contains("\"backend\":\"-\"") == true)
    }
}
