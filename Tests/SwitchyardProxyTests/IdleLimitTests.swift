import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// Idle connections end on time whatever keeps their socket busy without a request.
@Suite struct IdleLimitTests {
    @Test func anHTTP2ConnectionWithoutStreamsClosesAtTheKeepAliveTimeoutDespitePings() throws {
        let h = try ProxyHarness(routes: HTTP2Tests.routes) { $0.keepAliveTimeoutMilliseconds = 1_000 }
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port)
        client.request(stream: 1, path: "/a")
        #expect(client.response(stream: 1)?.status == 200)
        // Short reads, so the client can keep pinging while it waits for the close.
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(client.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let start = Date()
        var pings = 0
        while !client.closedByServer && Date().timeIntervalSince(start) < 8 {
            client.sendFrame(type: H2FrameClient.ping, flags: 0, stream: 0, payload: [UInt8](repeating: 7, count: 8))
            pings += 1
            while client.readFrame() != nil {}
        }
        #expect(client.closedByServer, "a connection kept busy by \(pings) PINGs alone was never closed")
        #expect(H2FrameClient.goAwayCode(client.history) == 0, "closed with GOAWAY(NO_ERROR)")
        #expect(pings >= 3, "the client did ping while it waited")
    }

    /// A next head begun behind a request (pipelined, then stalled) has the header timeout to
    /// complete: it got the keep-alive one, six times longer by default, in a full buffer.
    @Test func aStalledPipelinedHeadGetsTheHeaderTimeout() throws {
        let h = try ProxyHarness { $0.headerTimeoutMilliseconds = 300; $0.keepAliveTimeoutMilliseconds = 5_000 }
        defer { h.stop() }
        let client = try h.client()
        client.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n")
        #expect(client.readResponse()?.status == 200)
        let started = Date()
        #expect(client.readResponse()?.status == 408)
        #expect(Date().timeIntervalSince(started) < 2, "408 at the header timeout, not the keep-alive one")
    }

    @Test func tunnelsIdleTenMinutesByDefault() {
        // The documented default (README, "Defaults"); `timeout tunnel` changes it.
        #expect(ProxySettings(workers: 1).tunnelIdleTimeoutMilliseconds == 600_000)
    }
}
