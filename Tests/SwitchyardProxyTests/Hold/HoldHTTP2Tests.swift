import Foundation
import Testing
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardTestSupport

/// A held write on an HTTP/2 stream parks without blocking the other streams of its
/// connection, and is released (routed again by the table in force) on its stream.
@Suite struct HoldHTTP2Tests {
    static let routes = """
        listen http 127.0.0.1:0 h2c
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            active legacy standby cloud
        }
        """

    /// The table in force with `hold` (or none) and the active side set to `active`.
    static func publish(_ h: ProxyHarness, hold: Bool, active: String) throws {
        var state = h.proxy.table.state
        state.routes["app"] = RouteRuntime(active: active, standby: active == "legacy" ? "cloud" : "legacy",
                                           hold: hold ? HoldState(since: Date().timeIntervalSince1970, maxWaitSeconds: 60) : nil)
        try h.proxy.publish(try RouteTable.build(config: h.proxy.table.config, state: state, generation: h.proxy.table.generation + 1))
    }

    @Test func aParkedStreamDoesNotBlockAReadOnTheSameConnection() throws {
        let h = try ProxyHarness(routes: Self.routes)
        defer { h.stop() }
        try Self.publish(h, hold: true, active: "legacy")
        let client = try H2FrameClient(port: h.port)
        _ = client.readFrame()   // the server's SETTINGS
        let body = Array("note from h2".utf8)
        client.request(stream: 1, method: "POST", path: "/notes/h2", extra: [("content-length", "\(body.count)")], endStream: false)
        client.sendFrame(type: H2FrameClient.data, flags: H2FrameClient.endStream, stream: 1, payload: body)
        try waitFor("the stream to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        client.request(stream: 3, path: "/read")
        let read = try #require(client.response(stream: 3), "the read on the same connection was answered")
        #expect(read.status == 200)
        #expect(h.legacy.requestHeads.allSatisfy { !$0.hasPrefix("POST") }, "nothing held reached a backend")
        try Self.publish(h, hold: false, active: "cloud")   // the flip and the release's table
        let released = h.proxy.releaseParked(count: 16)
        #expect(released.releasedTotal == 1)
        let answer = try #require(client.response(stream: 1), "the parked stream was answered")
        #expect(answer.status == 200)
        #expect(String(decoding: answer.body, as: UTF8.self).hasPrefix("cloud answered POST /notes/h2"))
        #expect(h.cloud.rawRequests.contains { String(decoding: $0, as: UTF8.self).hasSuffix("note from h2") }, "the body went along")
        #expect(h.legacy.requestHeads.allSatisfy { !$0.hasPrefix("POST") })
    }

    /// A released stream routed again to another route than the one it was parked on (its
    /// route moved to another path; the path now belongs to `app`, held too) is answered
    /// 503 "not saved", never forwarded: sent there, it would be saved by whatever that
    /// route serves. Before, it parked again under `app`'s hold (keeping its decoded head:
    /// an earlier fix, when the head went back to the pool and the next release crashed the
    /// worker) and went to `app`'s backend at the next release.
    @Test func aStreamReleasedOntoAnotherRouteIsAnsweredNotSaved() throws {
        let h = try ProxyHarness(routes: Self.routes + """

            route notes {
                path /notes/
                active legacy standby cloud
            }
            """)
        defer { h.stop() }
        let hold = HoldState(since: Date().timeIntervalSince1970, maxWaitSeconds: 60)
        // `moveNotes`: the route stays, unheld, on another path, so its parked request is
        // released and now matches `app`. (A route a reload removes answers its parked
        // writes too: `HoldCommandTests.aWriteParkedOnARouteAReloadRemovesIsAnsweredNotSaved`.)
        func publish(dropNotes moveNotes: Bool, holdApp: Bool) throws {
            var config = h.proxy.table.config
            if moveNotes, let i = config.routes.firstIndex(where: { $0.name == "notes" }) { config.routes[i].pathPrefix = "/elsewhere/" }
            var state = RuntimeState()
            state.routes["app"] = RouteRuntime(active: "legacy", standby: "cloud", hold: holdApp ? hold : nil)
            state.routes["notes"] = RouteRuntime(active: "legacy", standby: "cloud", hold: moveNotes ? nil : hold)
            try h.proxy.publish(try RouteTable.build(config: config, state: state, generation: h.proxy.table.generation + 1))
        }
        try publish(dropNotes: false, holdApp: true)
        let client = try H2FrameClient(port: h.port)
        _ = client.readFrame()
        let body = Array("note from h2".utf8)
        client.request(stream: 1, method: "POST", path: "/notes/h2", extra: [("content-length", "\(body.count)")], endStream: false)
        client.sendFrame(type: H2FrameClient.data, flags: H2FrameClient.endStream, stream: 1, payload: body)
        try waitFor("the stream to park", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }

        // Its route moves away: released, routed to `app`.
        try publish(dropNotes: true, holdApp: true)
        _ = h.proxy.releaseParked(count: 16)
        let answer = try #require(client.response(stream: 1), "the stream was answered")
        #expect(answer.status == 503 && String(decoding: answer.body, as: UTF8.self).contains("NOT saved"))
        try waitFor("the release to end", seconds: 5) { h.proxy.holdSnapshot().releasedInFlight == 0 }
        let snapshot = h.proxy.holdSnapshot()
        #expect(snapshot.parked == 0 && snapshot.rejections["rerouted"] == 1, "\(snapshot)")
        #expect(snapshot.releasedTotal == 0, "refused, not counted as sent upstream")
        #expect(h.legacy.requestHeads.allSatisfy { !$0.hasPrefix("POST") } && h.cloud.requestHeads.allSatisfy { !$0.hasPrefix("POST") },
                "never forwarded")
    }

    @Test func aResetParkedStreamIsDroppedAndStreamsPerConnectionAreBounded() throws {
        let h = try ProxyHarness(routes: Self.routes) { $0.hold.perConnection = 2 }
        defer { h.stop() }
        try Self.publish(h, hold: true, active: "legacy")
        let client = try H2FrameClient(port: h.port)
        _ = client.readFrame()
        for stream: UInt32 in [1, 3] { client.request(stream: stream, method: "DELETE", path: "/notes/\(stream)") }
        try waitFor("two streams to park", seconds: 5) { h.proxy.holdSnapshot().parked == 2 }
        client.request(stream: 5, method: "DELETE", path: "/notes/5")
        let refused = client.response(stream: 5)
        #expect(refused?.status == 503, "the third stream of the connection is over the bound")
        #expect(refused?.headers.contains { $0.0 == "retry-after" } == true)
        #expect(String(decoding: refused?.body ?? [], as: UTF8.self).contains("NOT saved") == true)
        client.sendFrame(type: H2FrameClient.rstStream, flags: 0, stream: 1, payload: H2FrameClient.uint32(8))   // CANCEL
        try waitFor("the reset stream to leave the queue", seconds: 5) { h.proxy.holdSnapshot().parked == 1 }
        try Self.publish(h, hold: false, active: "legacy")
        _ = h.proxy.releaseParked(count: 16)
        #expect(client.response(stream: 3)?.status == 200)
        let deletes = h.legacy.requestHeads.filter { $0.hasPrefix("DELETE") }
        #expect(deletes.count == 1 && deletes[0].hasPrefix("DELETE /notes/3"), "\(deletes)")
        #expect(h.proxy.holdSnapshot().rejections["connection_limit"] == 1)
    }
}
