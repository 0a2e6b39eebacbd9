import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardOrigin
@testable import SwitchyardProxy
import SwitchyardRouting
import SwitchyardSystem

/// Active health checks and passive ejection, with real origins going away and coming back.
@Suite struct HealthTests {
    /// Requests other than health checks that `origin` received.
    func traffic(_ origin: OriginServer) -> [String] {
        origin.requestHeads.filter { !$0.hasPrefix("GET /healthz ") }
    }

    @Test func aServerFailingItsChecksGetsNoTrafficAndComesBack() throws {
        let h = try ProxyHarness(routes: """
            backend pair {
                server 127.0.0.1:LEGACY
                server 127.0.0.1:CLOUD
                health GET /healthz every 100ms expect 200 rise 2 fall 2
            }
            route app {
                backend pair
            }
            """)
        defer { h.stop() }
        #expect(waitUntil(2) { h.cloud.requestHeads.contains { $0.hasPrefix("GET /healthz") } }, "checks are sent")
        #expect(h.proxy.serverHealth()["pair"]?.up == 2)
        // Sick but still listening (a stopped server's port could be taken by another test).
        h.cloud.failing = true
        #expect(waitUntil(8) { h.proxy.serverHealth()["pair"]?.up == 1 }, "the failing server is marked down")
        h.legacy.resetRecords()
        h.cloud.resetRecords()
        for i in 0..<20 {
            let client = try h.client()
            let response = try #require(client.get("/r\(i)"))
            #expect(response.status == 200, "no request fails while one server is down")
        }
        #expect(traffic(h.legacy).count == 20)
        #expect(traffic(h.cloud).isEmpty, "the server marked down received no request: \(traffic(h.cloud))")
        // The server recovers and is let in after `rise` good checks.
        h.cloud.failing = false
        #expect(waitUntil(8) { h.proxy.serverHealth()["pair"]?.up == 2 }, "the server is back up")
        for i in 0..<10 { _ = try h.client().get("/back\(i)") }
        #expect(h.cloud.requestHeads.contains { $0.hasPrefix("GET /back") }, "and gets traffic again")
    }

    /// A server that drops connection attempts (its accept queue full: SYNs go unanswered)
    /// fails its check within the check's timeout, and the other servers go on being checked.
    /// Before, the connect had no limit: the one health thread waited the kernel's two
    /// minutes of SYN retries, and no other server's failure was noticed meanwhile.
    @Test func aServerDroppingConnectsHoldsUpNoOtherCheck() throws {
        let full = try FullBacklogListener()
        let h = try ProxyHarness(routes: """
            backend pair {
                server 127.0.0.1:\(full.port)
                server 127.0.0.1:CLOUD
                health GET /healthz every 100ms expect 200 rise 1 fall 1
            }
            route app {
                backend pair
            }
            """)
        defer { h.stop() }
        h.cloud.failing = true
        #expect(waitUntil(8) { h.proxy.serverHealth()["pair"]?.up == 0 }, "both servers are marked down")
        #expect(h.cloud.requestHeads.contains { $0.hasPrefix("GET /healthz") }, "the answering server was checked")
    }

    /// "a check waits 1–2 s for its answer": with checks every 100 ms the wait is 1 s, so a
    /// server answering its check after 1.5 s is marked down, one answering after 0.3 s is not.
    @Test func aCheckAnsweredTooLateCountsAsFailed() throws {
        let errorLogPath = NSTemporaryDirectory() + "switchyard-health-\(UUID().uuidString).log"
        defer { unlink(errorLogPath) }
        let h = try ProxyHarness(routes: """
            backend late {
                server 127.0.0.1:LEGACY
                health GET /slow?ms=1500 every 100ms rise 1 fall 1
            }
            backend prompt {
                server 127.0.0.1:CLOUD
                health GET /slow?ms=300 every 100ms rise 1 fall 1
            }
            route app {
                backend late
            }
            """, errorLog: ErrorLog(path: errorLogPath))
        defer { h.stop() }
        #expect(waitUntil(10) { h.proxy.serverHealth()["late"]?.up == 0 }, "the late server is marked down")
        let log = (try? String(contentsOfFile: errorLogPath, encoding: .utf8)) ?? ""
        #expect(log.contains("no answer within 1000 ms"), "the error log says why: \(log)")
        try waitFor("several checks of the prompt server", seconds: 10) { h.cloud.requestCount >= 3 }
        #expect(h.proxy.serverHealth()["prompt"]?.up == 1, "an answer within the wait keeps the server up")
    }

    /// "HTTP/1.1 200" with no reason phrase (RFC 9112 allows it) is a passing check. It was
    /// read as "not an HTTP answer", so such a server was marked down and its backend 503'd.
    @Test func aStatusLineWithoutAReasonPhrasePassesTheCheck() throws {
        let (origin, checks) = try OneThreadServer.counting { fd in
            _ = readRequestHead(fd)
            let answer = Array("HTTP/1.1 200\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".utf8)
            _ = answer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        }
        defer { origin.stop() }
        let h = try ProxyHarness(routes: """
            backend bare {
                server 127.0.0.1:\(origin.port)
                health GET /healthz every 100ms rise 1 fall 1
            }
            route app {
                backend bare
            }
            """)
        defer { h.stop() }
        try waitFor("several checks", seconds: 10) { checks() >= 4 }
        #expect(h.proxy.serverHealth()["bare"]?.up == 1, "the server stays up")
        #expect(HealthProbe.statusCode(Array("HTTP/1.1 204\r\n".utf8)) == 204)
        #expect(HealthProbe.statusCode(Array("HTTP/1.1 200 OK\r\n".utf8)) == 200)
        #expect(HealthProbe.statusCode(Array("HTTP/1.1 2000 OK\r\n".utf8)) == nil)
        #expect(HealthProbe.statusCode(Array("HTTP/1.1 20 OK\r\n\r\n".utf8)) == nil)
        #expect(HealthProbe.statusCode(Array("HTTP/2.0 200 OK\r\n".utf8)) == nil)
    }

    @Test func allServersDownAnswers503Quickly() throws {
        let h = try ProxyHarness(routes: """
            backend solo {
                server 127.0.0.1:LEGACY
                health GET /healthz every 100ms rise 1 fall 1
            }
            route app {
                backend solo
            }
            """)
        defer { h.stop() }
        h.legacy.failing = true
        #expect(waitUntil(8) { h.proxy.serverHealth()["solo"]?.up == 0 })
        h.legacy.resetRecords()
        let started = Date()
        let response = try #require(try h.client().get("/"))
        #expect(response.status == 503)
        #expect(!response.text.contains("legacy is failing"), "the proxy answered, not the sick origin: \(response.text)")
        #expect(Date().timeIntervalSince(started) < 1, "no connect is even tried")
        #expect(traffic(h.legacy).isEmpty, "the server marked down received no request: \(traffic(h.legacy))")
    }

    /// Six requests through a `pair` backend of the origin and `bad`: round robin sends
    /// three to `bad`, each answered `status`; then `bad` is ejected, and ten more requests
    /// never reach it.
    static func expectEjectedAfterThreeFailures(_ bad: RawOrigin, status: Int,
                                                settings: ((inout ProxySettings) -> Void)? = nil) throws {
        let h = try ProxyHarness(routes: """
            backend pair {
                server 127.0.0.1:LEGACY
                server 127.0.0.1:\(bad.port)
            }
            route app {
                backend pair
            }
            """, settings: settings)
        defer { h.stop() }
        var failures = 0
        for i in 0..<6 {
            if try h.client().get("/r\(i)")?.status == status { failures += 1 }
        }
        #expect(failures == 3)
        #expect(h.proxy.serverHealth()["pair"]?.up == 1, "the failing server is ejected")
        let connectionsBefore = bad.connections
        for i in 0..<10 {
            #expect(try h.client().get("/after\(i)")?.status == 200, "an ejected server gets no traffic")
        }
        #expect(bad.connections == connectionsBefore)
    }

    @Test func repeatedFailuresEjectAServerPassively() throws {
        let broken = try RawOrigin(answer: "this is not HTTP\r\n\r\n")
        defer { broken.stop() }
        // Three malformed answers from the broken server.
        try Self.expectEjectedAfterThreeFailures(broken, status: 502)
    }

    /// A server that takes connections and reads requests but never answers: each of its
    /// requests ends 504 at the upstream timeout, and three in a row eject it like any
    /// other failure. Before, it was never blamed: every other request waited the whole
    /// timeout for a 504, for as long as it stayed silent.
    @Test func aServerThatNeverAnswersIsEjectedAfterThreeTimeouts() throws {
        let silent = try RawOrigin(answer: "")
        defer { silent.stop() }
        try Self.expectEjectedAfterThreeFailures(silent, status: 504) { $0.upstreamTimeoutMilliseconds = 300 }

        // A side's only server is not ejected for timeouts: a slow endpoint must not turn
        // every request of the side into a 503 for 10 s (nor a failover to the other side).
        let alone = try ProxyHarness(routes: """
            backend one {
                server 127.0.0.1:\(silent.port)
            }
            route app {
                backend one
            }
            """) { $0.upstreamTimeoutMilliseconds = 300 }
        defer { alone.stop() }
        for i in 0..<4 {
            #expect(try alone.client().get("/alone\(i)")?.status == 504, "answered by the timeout, not refused as ejected")
        }
        #expect(alone.proxy.serverHealth()["one"]?.up == 1)
    }

    /// "three failed exchanges in a row eject a server for 10 s in that worker": after the
    /// 10 s the server gets traffic again, not before.
    @Test func aPassivelyEjectedServerReturnsAfterTenSeconds() throws {
        let broken = try RawOrigin(answer: "this is not HTTP\r\n\r\n")
        defer { broken.stop() }
        let h = try ProxyHarness(routes: """
            backend pair {
                server 127.0.0.1:LEGACY
                server 127.0.0.1:\(broken.port)
            }
            route app {
                backend pair
            }
            """)
        defer { h.stop() }
        var failures = 0
        var ejected = Date()
        for i in 0..<6 where failures < 3 {
            if try h.client().get("/r\(i)")?.status == 502 {
                failures += 1
                ejected = Date()
            }
        }
        #expect(failures == 3)
        #expect(h.proxy.serverHealth()["pair"]?.up == 1, "ejected")
        let connectionsAtEjection = broken.connections
        // Steady traffic until the broken server is tried again.
        var returned: TimeInterval?
        while returned == nil && Date().timeIntervalSince(ejected) < 15 {
            _ = try h.client().get("/poll")
            if broken.connections > connectionsAtEjection { returned = Date().timeIntervalSince(ejected) }
            usleep(100_000)
        }
        let after = try #require(returned, "the ejected server never got traffic again within 15 s")
        #expect(after >= 9.8 && after < 12, "it returned \(after) s after its ejection, expected 10 s")
    }

    @Test func aRouteThatSaysFailoverUsesItsOtherSideWhenOneHasNoServerUp() throws {
        let h = try ProxyHarness(routes: """
            backend legacy {
                server 127.0.0.1:LEGACY
                health GET /healthz every 100ms rise 1 fall 1
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route app {
                active legacy standby cloud
                failover
            }
            route strict {
                path /strict/
                active legacy standby cloud
            }
            """)
        defer { h.stop() }
        #expect(try h.client().get("/")?.header("X-Origin") == "legacy")
        h.legacy.failing = true
        #expect(waitUntil(8) { h.proxy.serverHealth()["legacy"]?.up == 0 })
        h.legacy.resetRecords()
        let response = try #require(try h.client().get("/"))
        #expect(response.status == 200)
        #expect(response.header("X-Origin") == "cloud", "failover to the standby")
        let strict = try #require(try h.client().get("/strict/x"))
        #expect(strict.status == 503, "without failover: 503 at once")
        #expect(!strict.text.contains("legacy is failing"), "the proxy answered, not the sick origin: \(strict.text)")
        #expect(traffic(h.legacy).isEmpty, "the server marked down received no request: \(traffic(h.legacy))")
    }

    /// A server reached over TLS is checked over TLS, verified as requests are: a plain
    /// check to its port got an alert or a close and marked a healthy server down, so every
    /// request to it failed a few seconds after start. The same server under a name its
    /// certificate does not carry fails its checks.
    @Test func aTLSServerIsCheckedOverVerifiedTLS() throws {
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        let server = try OpenSSLWWWServer(pki)
        defer { server.stop() }
        let port = server.port
        let h = try ProxyHarness(routes: """
            backend secure {
                server 127.0.0.1:\(port) tls ca \(pki.path("origin.pem")) sni localhost
                health GET /healthz every 100ms rise 1 fall 1
            }
            backend misnamed {
                server 127.0.0.1:\(port) tls ca \(pki.path("origin.pem")) sni wrong.test
                health GET /healthz every 100ms rise 1 fall 1
            }
            route app {
                backend secure
            }
            """)
        defer { h.stop() }
        #expect(waitUntil(8) { h.proxy.serverHealth()["misnamed"]?.up == 0 }, "the certificate does not name wrong.test")
        // Checks every 100 ms with fall 1: a second of them all passing.
        var lowest = 1
        for _ in 0..<20 {
            lowest = min(lowest, h.proxy.serverHealth()["secure"]?.up ?? 0)
            usleep(50_000)
        }
        #expect(lowest == 1, "the TLS server stays up under its checks")
        let client = try h.client()
        client.send("GET /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let text = String(decoding: client.readToEnd(), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200"), "\(text.prefix(200))")
    }

    /// Without a health line the check thread sleeps until the routes change: it used to
    /// wake every 20 ms to find nothing due (50 times a second, on the workers' CPU). A
    /// reload that adds a check wakes it, and the check is sent at once.
    @Test func theCheckThreadSleepsUntilARouteAsksForChecks() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let before = h.proxy.healthIdleSleepsForTest()
        usleep(600_000)
        let idle = h.proxy.healthIdleSleepsForTest() - before
        #expect(idle <= 2, "the check thread went to sleep \(idle) times in 0.6 s with nothing to check")

        let text = """
            listen http 127.0.0.1:0
            backend legacy {
                server 127.0.0.1:\(h.legacy.port)
                health GET /healthz every 100ms expect 200 rise 1 fall 1
            }
            route app {
                backend legacy
            }
            """
        let config = try RoutesConfig.parse(text, file: "test.routes")
        try h.proxy.publish(try RouteTable.build(config: config, state: RuntimeState(), generation: 2))
        #expect(waitUntil(5) { h.legacy.requestHeads.contains { $0.hasPrefix("GET /healthz") } },
                "the reload woke the check thread")
    }

    /// A server marked DOWN whose check leaves the routes file (the `health` line removed,
    /// or the server taken out and put back) is used again after the reload. Before, each
    /// worker kept the last verdict with nobody left to say UP: the server got no traffic
    /// until a restart, and with one server the whole side answered 503.
    @Test(arguments: [false, true])
    func aDownServerWhoseCheckIsRemovedServesAgainAfterTheReload(serverTakenOut: Bool) throws {
        let h = try ProxyHarness(routes: """
            backend legacy {
                server 127.0.0.1:LEGACY
                health GET /healthz every 100ms expect 200 rise 1 fall 1
            }
            route app {
                backend legacy
            }
            """)
        defer { h.stop() }
        h.legacy.failing = true
        #expect(waitUntil(8) { h.proxy.serverHealth()["legacy"]?.up == 0 }, "the failing server is marked down")
        #expect(try h.client().get("/while-down")?.status == 503)
        h.legacy.failing = false
        func publish(_ backend: String, generation: UInt64) throws {
            let config = try RoutesConfig.parse("listen http 127.0.0.1:0\n\(backend)\nroute app {\n    backend legacy\n}\n", file: "test.routes")
            try h.proxy.publish(try RouteTable.build(config: config, state: RuntimeState(), generation: generation))
        }
        if serverTakenOut {
            // Out (another server in its place), then back, still without a check.
            try publish("backend legacy {\n    server 127.0.0.1:\(h.cloud.port)\n}", generation: 2)
        }
        try publish("backend legacy {\n    server 127.0.0.1:\(h.legacy.port)\n}", generation: 3)
        for i in 0..<3 {
            let response = try #require(try h.client().get("/after\(i)"))
            #expect(response.status == 200, "request \(i) after the reload: \(response.status)")
        }
    }

    /// `weight`: a server takes turns in proportion to it, and one of weight 0 (drained
    /// before maintenance) takes none. Before, the weights were read and ignored: the
    /// drained server kept its share of new requests.
    @Test func serversTakeTurnsByWeightAndADrainedOneTakesNone() throws {
        let h = try ProxyHarness(routes: """
            backend pair {
                server 127.0.0.1:LEGACY weight 3
                server 127.0.0.1:CLOUD weight 1
            }
            route app {
                backend pair
            }
            """)
        defer { h.stop() }
        for i in 0..<40 { _ = try h.client().get("/w\(i)") }
        #expect(traffic(h.legacy).count == 30 && traffic(h.cloud).count == 10,
                "3:1 by weight: \(traffic(h.legacy).count) and \(traffic(h.cloud).count)")

        let drained = try RoutesConfig.parse("""
            listen http 127.0.0.1:0
            backend pair {
                server 127.0.0.1:\(h.legacy.port)
                server 127.0.0.1:\(h.cloud.port) weight 0
            }
            route app {
                backend pair
            }
            """, file: "test.routes")
        try h.proxy.publish(try RouteTable.build(config: drained, state: RuntimeState(), generation: 2))
        h.legacy.resetRecords()
        h.cloud.resetRecords()
        for i in 0..<20 { #expect(try h.client().get("/d\(i)")?.status == 200) }
        #expect(traffic(h.cloud).isEmpty, "the drained server got \(traffic(h.cloud).count) requests")
        #expect(traffic(h.legacy).count == 20)
    }
}
