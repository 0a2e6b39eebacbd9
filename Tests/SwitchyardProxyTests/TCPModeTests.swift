import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardOrigin
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardSystem

/// TCP (L4) mode: bytes relayed with splice(2), the backend chosen once per connection.
@Suite struct TCPModeTests {
    @Test func echoWithHalfClose() throws {
        let echo = try EchoServer()
        echo.start()
        defer { echo.stop() }
        let config = try RoutesConfig.parse("""
            backend db {
                server 127.0.0.1:\(ProxyHarness.deadPort())
                server 127.0.0.1:\(echo.port)
            }
            route tds {
                mode tcp
                listen 127.0.0.1:0
                backend db
            }
            """, file: "tcp.routes")
        let proxy = try Proxy(table: RouteTable.build(config: config, state: RuntimeState(), generation: 1),
                              settings: ProxySettings(workers: 1))
        proxy.start()
        defer { proxy.shutdown(graceMilliseconds: 500) }
        let port = try #require(proxy.tcpAddresses["tds"]).port
        for round in 0..<3 {
            let client = try TestClient(port: port)
            let payload = [UInt8]((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ round) })
            client.send(payload)
            // Half-close: we are done sending but still want everything back.
            client.shutdownWrite()
            let back = client.readToEnd()
            #expect(back.count == payload.count)
            #expect(back == payload)
        }
        #expect(echo.connections == 3, "a dead first server is skipped, the live one serves")
    }

    @Test func noServerClosesTheClient() throws {
        let config = try RoutesConfig.parse("""
            backend db {
                server 127.0.0.1:\(ProxyHarness.deadPort())
            }
            route tds {
                mode tcp
                listen 127.0.0.1:0
                backend db
            }
            """, file: "tcp.routes")
        let proxy = try Proxy(table: RouteTable.build(config: config, state: RuntimeState(), generation: 1),
                              settings: ProxySettings(workers: 1))
        proxy.start()
        defer { proxy.shutdown(graceMilliseconds: 500) }
        let client = try TestClient(port: try #require(proxy.tcpAddresses["tds"]).port)
        #expect(client.readToEnd().isEmpty)
        #expect(proxy.stats().noServer == 1)
    }
}
