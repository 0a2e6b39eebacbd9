import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// The proxy's own answers (404 no route, 503 no server) to a HEAD request have no body
/// (RFC 9110 §9.3.2): on a kept-alive connection its bytes were read as the start of the
/// next answer, and the client's next request on it failed. Over HTTP/2 no DATA follows.
@Suite struct OwnAnswerToHeadTests {
    static let routes = """
        listen http 127.0.0.1:0 h2c
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        route only {
            host clinic.example
            backend legacy
        }
        """

    @Test func aHeadAnsweredByTheProxyLeavesTheConnectionInStep() throws {
        let h = try ProxyHarness(routes: Self.routes)
        defer { h.stop() }
        let client = try h.client()
        client.send("HEAD /chart HTTP/1.1\r\nHost: nowhere.example\r\n\r\n")
        let notFound = try #require(client.readResponse(head: true))
        #expect(notFound.status == 404)
        #expect(notFound.header("Content-Length").flatMap { Int($0) } ?? 0 > 0, "the length of the body a GET would get")
        // The next answer on the connection is the next request's, not the 404's body.
        client.send("GET /chart HTTP/1.1\r\nHost: clinic.example\r\n\r\n")
        let next = client.readResponse()
        #expect(next?.status == 200, "\(String(describing: next?.head))")
    }

    @Test func anHTTP2HeadAnsweredByTheProxyHasNoData() throws {
        let h = try ProxyHarness(routes: Self.routes)
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port)
        client.request(stream: 1, method: "HEAD", path: "/chart", extra: [], endStream: true)
        var frames: [H2FrameClient.Frame] = []
        while let frame = client.readFrame() {
            if frame.stream == 1 { frames.append(frame) }
            if frame.stream == 1 && frame.flags & H2FrameClient.endStream != 0 { break }
        }
        let headers = try #require(frames.first { $0.type == H2FrameClient.headers })
        #expect(client.decode(headers.payload).first { $0.0 == ":status" }?.1 == "404")
        #expect(headers.flags & H2FrameClient.endStream != 0, "the HEADERS frame ends the stream")
        #expect(!frames.contains { $0.type == H2FrameClient.data }, "no DATA for a HEAD")
    }
}
