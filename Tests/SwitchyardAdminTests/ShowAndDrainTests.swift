import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin
import SwitchyardRouting

/// `show routes` and `drain BACKEND`, and closing idle upstream connections to a side that
/// lost all its traffic — on live sockets, with the origin watching its connections.
@Suite struct ShowAndDrainTests {
    @Test func showRoutesSaysTheRoutingInForceInRoutesFileWords() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("weight app cloud 25%").ok)
        #expect(h.run("cohort app add header X-Group pilot -> cloud").ok)
        #expect(h.run("flip auth").ok)
        let shown = h.run("show routes")
        #expect(shown.ok)
        let lines = shown.text.split(separator: "\n").map(String.init)
        #expect(lines.first == "# generation 4")
        for expected in ["route app {", "    split legacy 75.00% cloud 25.00%", "    cohort header X-Group pilot -> cloud",
                         "route auth {", "    path /auth/", "    active cloud standby legacy"] {
            #expect(lines.contains(expected), "`\(expected)` in:\n\(shown.text)")
        }
        // Routes-file words: with the backends in front, the answer is a valid routes file
        // whose routing is the one in force.
        let file = """
            listen http 127.0.0.1:0
            backend legacy {
                server 127.0.0.1:1
            }
            backend cloud {
                server 127.0.0.1:2
            }
            """ + "\n" + shown.text
        let config = try RoutesConfig.parse(file, file: "shown.routes")
        let rebuilt = try RouteTable.build(config: config, state: RuntimeState(), generation: 1)
        #expect(rebuilt.routes.map(\.name) == ["app", "auth"])
        // The sticky line is part of the routing in force (users' buckets depend on it).
        #expect(lines.contains("    sticky cookie SWITCHYARD_BUCKET"), "\(shown.text)")
    }

    @Test func aFlipClosesIdleUpstreamConnectionsToTheSideThatLostAllTraffic() throws {
        let h = try AdminHarness(routes: """
            listen http 127.0.0.1:0
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route app {
                active legacy standby cloud
            }
            """)
        defer { h.stop() }
        let client = try TestClient(port: h.port)
        #expect(client.get("/a")?.text.hasPrefix("legacy") == true)
        #expect(h.legacy.connectionCount == 1)
        #expect(h.legacy.connectionsClosedByPeer == 0, "the pooled connection stays open while legacy has traffic")
        #expect(h.run("flip app").ok)
        // The command answers after the close: the FIN is already on its way.
        #expect(waitUntil(5) { h.legacy.connectionsClosedByPeer == 1 }, "the origin saw its idle connection closed")
        #expect(client.get("/b")?.text.hasPrefix("cloud") == true)
        #expect(h.legacy.connectionCount == 1, "nothing new went to legacy")
    }

    @Test func drainClosesIdleConnectionsNowAndTunnelsAfterTheDurationWithoutRerouting() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        // auth: active legacy. One tunnel and one pooled connection to legacy (the tunnel
        // first: an upgrade may take a pooled connection for itself).
        let tunnel = try TestClient(port: h.port)
        tunnel.send("GET /auth/ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        #expect(tunnel.readResponse()?.status == 101)
        let keepAlive = try TestClient(port: h.port)
        #expect(keepAlive.get("/auth/a")?.text.hasPrefix("legacy") == true)
        #expect(h.legacy.connectionCount == 2)
        let idleBefore = h.legacy.connectionsClosedByPeer
        // Timed from before the command: the drain's clock starts while the command runs, and
        // on a loaded machine its answer can come back a good part of the 700 ms later.
        let drained = Date()
        let answer = h.run("drain legacy 700ms")
        #expect(answer.ok, "\(answer.text)")
        #expect(waitUntil(5) { h.legacy.connectionsClosedByPeer == idleBefore + 1 }, "the idle connection is closed now")
        tunnel.send("ping")
        #expect(tunnel.fill(), "the tunnel still echoes before the duration")
        #expect(waitUntil(5) { !tunnel.send("x") || !tunnel.fill() }, "the tunnel is closed after the duration")
        #expect(Date().timeIntervalSince(drained) >= 0.65, "not before 700 ms")
        #expect(h.proxy.table.generation == 1, "a drain makes no generation")
        let after = try #require(try TestClient(port: h.port).get("/auth/b"))
        #expect(after.text.hasPrefix("legacy"), "routing is unchanged: \(after.text)")
    }
}
