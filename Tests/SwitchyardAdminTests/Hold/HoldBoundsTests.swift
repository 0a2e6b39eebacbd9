import Foundation
import Glibc
import Testing
import SwitchyardAdmin
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardTestSupport

/// Each bound of the write hold at N (parked) and N+1 (503, not saved, never forwarded).
@Suite struct HoldBoundsTests {
    static func routes(_ limits: String) -> String {
        limits + "\n" + HoldSupport.routes
    }

    /// Parks `count` writes, each on its own connection, with `body` bytes each.
    static func park(_ h: AdminHarness, _ count: Int, body: Int, from first: Int = 0) throws -> [Background<TestClient.Response?>] {
        var pending: [Background<TestClient.Response?>] = []
        for i in first..<(first + count) {
            let client = Handed(try TestClient(port: h.port))
            let text = String(repeating: "n", count: body)
            pending.append(Background { HoldSupport.post(client.client, "/notes/\(i)", body: text) })
            try waitFor("write \(i) to park", seconds: 5) { h.proxy.holdSnapshot().parked == i + 1 }
        }
        return pending
    }

    static func expectRefused(_ h: AdminHarness, body: Int, reason: String) throws {
        let client = try TestClient(port: h.port)
        let answer = HoldSupport.post(client, "/notes/over", body: String(repeating: "n", count: body))
        #expect(answer?.status == 503, "\(reason): \(answer?.status ?? 0)")
        #expect(answer?.header("Retry-After") != nil)
        #expect(answer?.text.contains("NOT saved") == true)
        #expect(h.proxy.holdSnapshot().rejections[reason] == 1, "\(h.proxy.holdSnapshot().rejections)")
    }

    static func releaseAndCheck(_ h: AdminHarness, _ pending: [Background<TestClient.Response?>]) throws {
        let release = h.run("release app")
        #expect(release.ok, "\(release.text)")
        #expect(release.text.contains("refused 503 while held: 1"), "\(release.text)")
        for p in pending { #expect(try p.wait()?.status == 200) }
        #expect(HoldSupport.seen(h.legacy, "POST", "/notes/over") == 0, "a refused write is never forwarded")
        #expect(HoldSupport.seen(h.legacy, "POST", "/notes/") == pending.count)
        let report = h.auditRecords().first { $0["outcome"] as? String == "hold-report" }
        #expect(report?["count"] as? Int == 1, "the bound hit is audited as a count")
    }

    @Test func parkedRequestsInTotal() throws {
        let h = try AdminHarness(routes: Self.routes("limit hold-parked 3"), workers: 1)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let pending = try Self.park(h, 3, body: 10)
        try Self.expectRefused(h, body: 10, reason: "parked_limit")
        try Self.releaseAndCheck(h, pending)
    }

    @Test func oneRequestsBody() throws {
        let h = try AdminHarness(routes: Self.routes("limit hold-body 100"), workers: 1)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let pending = try Self.park(h, 1, body: 100)
        try Self.expectRefused(h, body: 101, reason: "body_limit")
        try Self.releaseAndCheck(h, pending)
    }

    @Test func parkedBodiesInTotal() throws {
        let h = try AdminHarness(routes: Self.routes("limit hold-bytes 300"), workers: 1)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let pending = try Self.park(h, 3, body: 100)
        #expect(h.proxy.holdSnapshot().parkedBytes == 300)
        try Self.expectRefused(h, body: 1, reason: "bytes_limit")
        try Self.releaseAndCheck(h, pending)
    }

    /// A chunked body has no length to count: it counts as one buffer (what a parked request
    /// holds at most). It counted 0, so chunked writes parked past `hold-bytes` for free.
    @Test func chunkedBodiesCountAgainstTheBytesBound() throws {
        let h = try AdminHarness(routes: Self.routes("limit hold-bytes 128k"), workers: 1)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        @Sendable func chunked(_ client: TestClient, _ path: String) -> TestClient.Response? {
            client.send("POST \(path) HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnote\r\n0\r\n\r\n")
            return client.readResponse()
        }
        var pending: [Background<TestClient.Response?>] = []
        for i in 0..<2 {
            let client = Handed(try TestClient(port: h.port))
            pending.append(Background { chunked(client.client, "/notes/\(i)") })
            try waitFor("write \(i) to park", seconds: 5) { h.proxy.holdSnapshot().parked == i + 1 }
        }
        #expect(h.proxy.holdSnapshot().parkedBytes == 2 * 64 * 1024)
        let over = chunked(try TestClient(port: h.port), "/notes/over")
        #expect(over?.status == 503 && over?.text.contains("NOT saved") == true, "\(over?.status ?? 0)")
        #expect(h.proxy.holdSnapshot().rejections["bytes_limit"] == 1, "\(h.proxy.holdSnapshot().rejections)")
        try Self.releaseAndCheck(h, pending)
    }

    @Test func aHoldOlderThanTenMinutesRefusesNewWrites() throws {
        let h = try AdminHarness(routes: HoldSupport.routes, workers: 1)
        defer { h.stop() }
        // A hold that began 601 s ago, installed as the proxy would find it after a restart.
        var state = h.proxy.table.state
        state.routes["app"] = RouteRuntime(hold: HoldState(since: Date().timeIntervalSince1970 - 601, maxWaitSeconds: 60))
        try h.proxy.publish(try RouteTable.build(config: h.proxy.table.config, state: state, generation: h.proxy.table.generation + 1))
        try Self.expectRefused(h, body: 5, reason: "hold_too_old")
        #expect(h.proxy.holdSnapshot().parked == 0, "never parked")
        let reader = try TestClient(port: h.port)
        #expect(reader.get("/notes")?.status == 200, "reads still flow")
    }
}
