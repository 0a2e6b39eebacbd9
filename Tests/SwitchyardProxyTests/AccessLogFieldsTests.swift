import Foundation
import Glibc
import Testing
import SwitchyardProxy
import SwitchyardTestSupport
import SwitchyardRouting

/// The access log's request-path fields on real sockets: `request_id` (kept when sane,
/// minted otherwise, sent upstream on HTTP/1.1 and HTTP/2), `upstream_status`,
/// `connect_us`, `ttfb_us`, `retries`, `via` and the Envoy-style `flags`.
@Suite struct AccessLogFieldsTests {
    /// The log's lines as JSON objects, once at least `count` were written (batches flush
    /// on the loop's 100 ms tick).
    static func entries(_ h: ProxyHarness, atLeast count: Int) throws -> [[String: Any]] {
        var lines: [Substring] = []
        _ = waitUntil(10) {
            let text = (try? String(contentsOfFile: h.accessLogPath, encoding: .utf8)) ?? ""
            lines = text.split(separator: "\n")
            return lines.count >= count
        }
        return try lines.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        }
    }

    static func isMinted(_ id: Any?) -> Bool {
        guard let id = id as? String else { return false }
        return id.count == 32 && id.allSatisfy { "0123456789abcdef".contains($0) }
    }

    /// The X-Request-ID values in a request head the origin echoed (`/headers`).
    static func requestIDs(inEchoedHead text: String) -> [String] {
        text.split(separator: "\r\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "x-request-id" else { return nil }
            return parts[1].trimmingCharacters(in: .whitespaces)
        }
    }

    @Test func aSaneRequestIDIsKeptAndAnyOtherReplacedAndTheBackendSeesTheLoggedOne() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        let sane = "Req-42_a.b:c" + String(repeating: "x", count: 52)   // 64 bytes: the longest kept
        let cases: [(sent: String?, kept: Bool)] = [
            (sane, true),
            ("0f8fad5b-d9cb-469f-a165-70867728950e", true),
            (sane + "y", false),                       // 65 bytes
            ("has space", false),
            ("quote\"inside", false),
            ("slash/inside", false),
            ("", false),
            (nil, false),
        ]
        var seen: [String] = []
        for (sent, kept) in cases {
            // A sane second copy after the first: the first decides, whatever follows.
            let header = sent.map { "X-Request-ID: \($0)\r\nx-request-id: second-copy\r\n" } ?? ""
            let response = try #require(client.get("/headers", headers: header))
            #expect(response.status == 200)
            let upstream = Self.requestIDs(inEchoedHead: response.text)
            #expect(upstream.count == 1, "exactly one X-Request-ID upstream for \(String(describing: sent)): \(upstream)")
            if kept {
                #expect(upstream.first == sent)
            } else {
                // The first copy decides: an insane first is replaced, not its second copy.
                #expect(Self.isMinted(upstream.first), "\(String(describing: sent)) → \(upstream)")
            }
            seen.append(upstream.first ?? "")
        }
        #expect(Set(seen).count == seen.count, "minted IDs differ: \(seen)")
        let entries = try Self.entries(h, atLeast: cases.count)
        #expect(entries.map { $0["request_id"] as? String ?? "?" } == seen, "the log names the ID the backend saw")
    }

    @Test func anHTTP2StreamSendsItsRequestIDUpstreamToo() throws {
        try requireTools("curl")
        let h = try ProxyHarness(routes: HTTP2Tests.routes)
        defer { h.stop() }
        let url = "http://127.0.0.1:\(h.port)/headers"
        let kept = HTTP2Tests.run(toolPath("curl"), ["-s", "--http2-prior-knowledge", "--max-time", "20", url,
                                                    "-H", "X-Request-ID: h2-trace.7"])
        let minted = HTTP2Tests.run(toolPath("curl"), ["-s", "--http2-prior-knowledge", "--max-time", "20", url,
                                                      "-H", "X-Request-ID: <script>"])
        #expect(kept.status == 0 && minted.status == 0)
        #expect(Self.requestIDs(inEchoedHead: kept.output) == ["h2-trace.7"], "\(kept.output)")
        let ours = Self.requestIDs(inEchoedHead: minted.output)
        #expect(ours.count == 1 && Self.isMinted(ours.first), "\(minted.output)")
        let entries = try Self.entries(h, atLeast: 2)
        #expect(entries.map { $0["proto"] as? String } == ["h2", "h2"])
        #expect(entries.map { $0["request_id"] as? String } == ["h2-trace.7", ours.first])
    }

    @Test func aRelayedAnswerHasItsTimingsUpstreamStatusAndWhy() throws {
        let routes = """
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
                cohort header X-Staff internal -> cloud
            }
            """
        let h = try ProxyHarness(routes: "listen http 127.0.0.1:0\n" + routes)
        defer { h.stop() }
        let client = try h.client()
        let first = try #require(client.get("/slow?ms=200&patient=7"))
        let cookie = try #require(first.header("Set-Cookie")?.split(separator: ";").first.map(String.init))
        #expect(client.get("/status/503", headers: "Cookie: \(cookie)\r\n")?.status == 503)
        #expect(client.get("/a", headers: "X-Staff: internal\r\n")?.status == 200)
        let entries = try Self.entries(h, atLeast: 3)
        try #require(entries.count == 3)
        let (placed, returning, cohort) = (entries[0], entries[1], entries[2])
        #expect(placed["via"] as? String == "split", "a new user is placed by the split: \(placed)")
        #expect(returning["via"] as? String == "sticky", "a returning user is kept by the cookie: \(returning)")
        #expect(cohort["via"] as? String == "cohort")
        #expect(placed["upstream_status"] as? Int == 200)
        // The backend's own 503 is its answer, not a proxy failure: no flag.
        #expect(returning["status"] as? Int == 503 && returning["upstream_status"] as? Int == 503)
        for entry in entries {
            #expect(entry["flags"] as? String == "-", "\(entry)")
            #expect(entry["retries"] as? Int == 0)
            #expect(entry["connect_us"] is Int, "\(entry)")
            #expect(!"\(entry)".contains("patient"), "still no query string")
        }
        // The origin waited 200 ms before its head: the time to first byte covers it and
        // stays within the whole duration; connecting took a small part of it.
        let ttfb = placed["ttfb_us"] as? Int ?? -1
        let duration = placed["duration_us"] as? Int ?? -1
        let connect = placed["connect_us"] as? Int ?? -1
        #expect((200_000...duration).contains(ttfb), "ttfb_us \(ttfb), duration_us \(duration)")
        #expect((0..<ttfb).contains(connect), "connect_us \(connect)")
        // Keep-alive: the second request took the pooled connection at once.
        #expect((returning["connect_us"] as? Int ?? .max) < 50_000)
    }

    @Test func failuresSayHowManyRetriesAndWhyInFlags() throws {
        let routes = """
            access-log ACCESSLOG
            backend legacy {
                server 127.0.0.1:DEAD
                server 127.0.0.1:LEGACY
            }
            backend dead {
                server 127.0.0.1:DEAD
                server 127.0.0.2:DEAD
            }
            backend gone {
                server 127.0.0.3:DEAD
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route retried {
                path /retried/
                backend legacy
            }
            route down {
                path /down/
                backend dead
            }
            route saved {
                path /saved/
                active gone standby cloud
                failover
            }
            route app {
                host app.example
                backend cloud
            }
            """
        let h = try ProxyHarness(routes: "listen http 127.0.0.1:0\n" + routes) { $0.upstreamTimeoutMilliseconds = 500 }
        defer { h.stop() }
        func get(_ path: String, host: String = "any.example") throws -> Int {
            let client = try h.client()
            client.send("GET \(path) HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            return client.readResponse()?.status ?? 0
        }
        // The first server refuses, the second answers; each dead server's connect fails.
        #expect(try get("/retried/x") == 200)
        #expect(try get("/down/x") == 503)
        #expect(try get("/saved/x") == 200)
        #expect(try get("/close", host: "app.example") == 502)
        #expect(try get("/slow?ms=3000", host: "app.example") == 504)
        #expect(try get("/x", host: "nowhere.example") == 404)
        // A client that leaves while the backend is still thinking.
        var leaving: TestClient? = try h.client()
        leaving?.send("GET /slow?ms=400 HTTP/1.1\r\nHost: app.example\r\n\r\n")
        try waitFor("the slow request to reach the origin", seconds: 5) {
            h.cloud.requestHeads.contains { $0.contains("ms=400") }
        }
        // A reset, not a FIN: the proxy learns at once that nobody waits for the answer.
        // The client's own deinit closes its socket: a close here as well closed the number
        // twice, by then perhaps a socket of a test running beside this one.
        resetOnClose(leaving!.fd)
        leaving = nil
        // A malformed head: refused before routing.
        let bad = try h.client()
        bad.send("GET /x HTTP/1.1\r\nHost: a\r\nBad Name: y\r\n\r\n")
        #expect(bad.readResponse()?.status == 400)

        let entries = try Self.entries(h, atLeast: 8)
        try #require(entries.count == 8, "\(entries)")
        func expect(_ i: Int, status: Int, flags: String, retries: Int, via: String, upstream: Int?,
                    sourceLocation: SourceLocation = #_sourceLocation) {
            let e = entries[i]
            #expect(e["status"] as? Int == status, "\(e)", sourceLocation: sourceLocation)
            #expect(e["flags"] as? String == flags, "\(e)", sourceLocation: sourceLocation)
            #expect(e["retries"] as? Int == retries, "\(e)", sourceLocation: sourceLocation)
            #expect(e["via"] as? String == via, "\(e)", sourceLocation: sourceLocation)
            #expect(e["upstream_status"] as? Int == upstream, "\(e)", sourceLocation: sourceLocation)
            #expect(Self.isMinted(e["request_id"]), "\(e)", sourceLocation: sourceLocation)
        }
        expect(0, status: 200, flags: "-", retries: 1, via: "active", upstream: 200)
        expect(1, status: 503, flags: "UF", retries: 2, via: "active", upstream: nil)
        #expect(entries[1]["connect_us"] is NSNull, "never connected: null")
        expect(2, status: 200, flags: "-", retries: 1, via: "failover", upstream: 200)
        #expect(entries[2]["backend"] as? String == "cloud", "the side that answered")
        // Sent on the connection pooled by the request before, which may have been stale:
        // replayed once on a fresh one, which the origin closes too.
        expect(3, status: 502, flags: "UR", retries: 1, via: "active", upstream: nil)
        expect(4, status: 504, flags: "UT", retries: 0, via: "active", upstream: nil)
        #expect(entries[4]["ttfb_us"] is NSNull)
        expect(5, status: 404, flags: "NR", retries: 0, via: "-", upstream: nil)
        expect(6, status: 0, flags: "DC", retries: 0, via: "active", upstream: nil)
        expect(7, status: 400, flags: "DPE", retries: 0, via: "-", upstream: nil)
    }

    /// The write hold's 503 "not saved" is flagged `WH`: flagged `UH` (no server available),
    /// it sent ops looking for a backend that was down.
    @Test func theWriteHoldsAnswerIsFlaggedWHNotANoServerUH() throws {
        let h = try ProxyHarness(routes: """
            listen http 127.0.0.1:0
            access-log ACCESSLOG
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            route app {
                backend legacy
            }
            """)
        defer { h.stop() }
        var state = h.proxy.table.state
        state.routes["app"] = RouteRuntime(hold: HoldState(since: Date().timeIntervalSince1970, maxWaitSeconds: 1))
        try h.proxy.publish(try RouteTable.build(config: h.proxy.table.config, state: state, generation: h.proxy.table.generation + 1))
        let client = try h.client()
        client.send("POST /notes/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nnote")
        #expect(client.readResponse()?.status == 503)
        let entries = try Self.entries(h, atLeast: 1)
        #expect(entries.first?["status"] as? Int == 503)
        #expect(entries.first?["flags"] as? String == "WH", "\(entries)")
    }
}
