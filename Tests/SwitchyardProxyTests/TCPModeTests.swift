import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardOrigin
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardSystem

/// TCP (L4) mode: bytes relayed with splice(2), the backend chosen once per connection.
@Suite struct TCPModeTests {
    /// A started one-worker proxy with a `mode tcp` route to `servers` (in order), and its port.
    func tcpProxy(servers: [UInt16]) throws -> (Proxy, UInt16) {
        let config = try RoutesConfig.parse("""
            backend db {
            \(servers.map { "    server 127.0.0.1:\($0)" }.joined(separator: "\n"))
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
        guard let address = proxy.tcpAddresses["tds"] else {
            proxy.shutdown(graceMilliseconds: 0)
            throw Errno(code: EADDRNOTAVAIL, call: "tcp listener")
        }
        return (proxy, address.port)
    }

    @Test func echoWithHalfClose() throws {
        let echo = try EchoServer()
        echo.start()
        defer { echo.stop() }
        let (proxy, port) = try tcpProxy(servers: [ProxyHarness.deadPort(), echo.port])
        defer { proxy.shutdown(graceMilliseconds: 500) }
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
        let (proxy, port) = try tcpProxy(servers: [ProxyHarness.deadPort()])
        defer { proxy.shutdown(graceMilliseconds: 500) }
        let client = try TestClient(port: port)
        #expect(client.readToEnd().isEmpty)
        #expect(proxy.stats().noServer == 1)
    }
}
