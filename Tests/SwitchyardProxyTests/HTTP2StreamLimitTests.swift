import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// "Limits on every session: 100 concurrent streams … a client that breaks one gets GOAWAY
/// and is closed, and the error log says which limit": a 101st stream opened while 100 are
/// in flight is refused and never reaches a backend.
@Suite struct HTTP2StreamLimitTests {
    @Test func aStreamBeyondOneHundredConcurrentIsRefused() throws {
        let errorLogPath = NSTemporaryDirectory() + "switchyard-h2-streams-\(UUID().uuidString).log"
        defer { unlink(errorLogPath) }
        func errors() -> String { (try? String(contentsOfFile: errorLogPath, encoding: .utf8)) ?? "" }
        let h = try ProxyHarness(routes: HTTP2Tests.routes, errorLog: ErrorLog(path: errorLogPath))
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port)
        // A client that read and acknowledged the server's SETTINGS (MAX_CONCURRENT_STREAMS 100).
        let settings = try #require(client.readFrame())
        #expect(settings.type == H2FrameClient.settings)
        for i in 0..<100 {
            client.request(stream: UInt32(1 + 2 * i), path: "/slow?ms=1500&n=\(i)")
        }
        try waitFor("the 100 streams to reach the origin", seconds: 10) { h.legacy.requestCount == 100 }
        client.request(stream: 201, path: "/one-too-many")
        let frames = client.readUntilClosed()
        let goAway = try #require(frames.first { $0.type == H2FrameClient.goAway }, "the client that broke the limit gets GOAWAY")
        #expect(H2FrameClient.goAwayCode([goAway]) == 1, "PROTOCOL_ERROR")
        let lastStream = UInt32(goAway.payload[0] & 0x7F) << 24 | UInt32(goAway.payload[1]) << 16 | UInt32(goAway.payload[2]) << 8 | UInt32(goAway.payload[3])
        #expect(lastStream < 201, "the 101st stream is not among those the server took (last \(lastStream))")
        #expect(client.closedByServer, "and its connection is closed")
        #expect(!h.legacy.requestHeads.contains { $0.contains("/one-too-many") }, "the refused stream never reached the backend")
        #expect(waitUntil(3) { errors().contains("concurrent streams") }, "the error log says which limit: \(errors())")
        // Another connection is served meanwhile.
        let other = try H2FrameClient(port: h.port)
        other.request(stream: 1, path: "/a")
        #expect(other.response(stream: 1)?.status == 200)
    }
}
