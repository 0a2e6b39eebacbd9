import Foundation
import Testing
import SwitchyardCompare
import SwitchyardProxy
import SwitchyardTestSupport

/// HTTP/2 streams pass the same decision point through the bridge, so they are mirrored
/// like HTTP/1.1 requests: the copy is the HTTP/1.1 head the stream's request became.
@Suite struct MirrorHTTP2Tests {
    @Test func aStreamIsMirroredAndItsUserGetsThePrimarysAnswer() throws {
        let h = try ProxyHarness(routes: "listen http 127.0.0.1:0 h2c\n" + mirrorRoutes("mirror cloud 100%", extra: "mirror noise 0%"))
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port)
        _ = client.readFrame()   // the server's SETTINGS
        client.request(stream: 1, path: "/notes/h2?x=1", extra: [("x-user", "nurse-2")])
        let answer = try #require(client.response(stream: 1))
        #expect(answer.status == 200)
        #expect(String(decoding: answer.body, as: UTF8.self).hasPrefix("legacy answered GET /notes/h2"))
        let sample = try #require(try h.mirrorSamples(1).first)
        #expect(sample.path == "/notes/h2" && sample.method == "GET")
        #expect(sample.primary.body == answer.body)
        #expect(String(decoding: sample.other.body ?? [], as: UTF8.self).hasPrefix("cloud answered GET /notes/h2"))
        #expect(h.cloud.requestHeads.first?.contains("X-Switchyard-Mirror: 1") == true)
    }
}
