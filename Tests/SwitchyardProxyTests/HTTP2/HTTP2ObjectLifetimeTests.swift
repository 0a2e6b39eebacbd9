import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// Streams are reused within their connection and hold it strongly (so do its spare
/// streams): once the client is gone, every connection and stream object must still be
/// freed — a reference cycle would keep one per HTTP/2 client for the life of the process.
@Suite struct HTTP2ObjectLifetimeTests {
    @Test func closedClientsLeaveNoConnectionOrStreamBehind() throws {
        let h = try ProxyHarness(routes: ProxyHarness.h2cRoutes)
        defer { h.stop() }
        for _ in 0..<3 {
            var client: H2FrameClient? = try H2FrameClient(port: h.port)
            var stream: UInt32 = 1
            for _ in 0..<40 {
                client!.request(stream: stream, path: "/chart/\(stream)")
                #expect(client!.response(stream: stream)?.status == 200)
                stream += 2
            }
            let live = h.proxy.liveHTTP2ForTest()
            #expect(live.connections == 1, "one client, one connection object: \(live)")
            #expect(live.streams >= 1 && live.streams <= 2, "streams are reused, not one per request: \(live)")
            client = nil   // closes the socket
        }
        try waitFor("every HTTP/2 object freed", seconds: 10) { h.proxy.liveHTTP2ForTest() == (0, 0) }
    }
}
