import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// An application that answers before it has read the request body (a redirect to the login
/// page, a 401) must not make the client see an error: over HTTP/2 the rest of the body is
/// taken and dropped instead of resetting the stream, and an upstream that answered and
/// closed mid-body still has its answer delivered. The stream also stays checked: frames
/// that arrive after the answer are still held to the protocol.
@Suite struct EarlyAnswerTests {
    static func bodyFile(bytes: Int) throws -> String {
        let path = NSTemporaryDirectory() + "switchyard-form-\(UUID().uuidString)"
        try Data(repeating: UInt8(ascii: "f"), count: bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// `rounds` curl POSTs of a 200 KB form; the status each saw (curl's exit status folded in).
    static func post(_ url: String, rounds: Int, http2: Bool) throws -> [String] {
        let curl = try tool("curl")
        let file = try bodyFile(bytes: 200_000)
        defer { unlink(file) }
        var seen: [String] = []
        for _ in 0..<rounds {
            let result = TLSTerminationTests.run(curl, (http2 ? ["--http2-prior-knowledge"] : []) + [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", "--data-binary", "@" + file, url])
            seen.append(result.status == 0 ? result.output : "curl exit \(result.status) (\(result.output))")
        }
        return seen
    }

    @Test(arguments: [true, false])
    func anAnswerBeforeTheBodyReachesTheClient(_ http2: Bool) throws {
        let h = try ProxyHarness(routes: HTTP2Tests.routes)
        defer { h.stop() }
        let seen = try Self.post("http://127.0.0.1:\(h.port)/answer-early", rounds: 30, http2: http2)
        #expect(seen.filter { $0 != "302" }.isEmpty, "every POST gets the 302 the application sent: \(seen)")
    }

    @Test(arguments: [true, false])
    func anUpstreamThatAnsweredAndResetMidBodyStillHasItsAnswerDelivered(_ http2: Bool) throws {
        let h = try ProxyHarness(routes: HTTP2Tests.routes)
        defer { h.stop() }
        let seen = try Self.post("http://127.0.0.1:\(h.port)/answer-early-reset", rounds: 30, http2: http2)
        #expect(seen.filter { $0 != "401" }.isEmpty, "the 401 that arrived is delivered, not a 502: \(seen)")
        #expect(h.proxy.stats().upstreamErrors == 0)
    }

    /// After the answer, DATA that disagrees with the request's content-length is still a
    /// stream error (RFC 9113 §8.1.1), and the connection goes on.
    @Test func aBodyShorterThanItsContentLengthAfterTheAnswerIsAStreamError() throws {
        let h = try ProxyHarness(routes: HTTP2Tests.routes)
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port)
        client.request(stream: 1, method: "POST", path: "/answer-early", extra: [("content-length", "10")], endStream: false)
        let answer = try #require(client.response(stream: 1))
        #expect(answer.status == 302)
        #expect(answer.reset == nil, "the stream is not reset while the client still sends its body")
        client.sendFrame(type: H2FrameClient.data, flags: H2FrameClient.endStream, stream: 1, payload: [1, 2, 3])
        var reset: UInt32?
        while reset == nil, let frame = client.readFrame() {
            if frame.type == H2FrameClient.rstStream && frame.stream == 1 {
                reset = UInt32(frame.payload[0]) << 24 | UInt32(frame.payload[1]) << 16 | UInt32(frame.payload[2]) << 8 | UInt32(frame.payload[3])
            }
        }
        #expect(reset == 1, "RST_STREAM(PROTOCOL_ERROR) for a body that disagrees with content-length")
        client.request(stream: 3, path: "/a")
        #expect(client.response(stream: 3)?.status == 200, "the connection goes on")
    }

    /// After the answer, a DATA frame whose pad length exceeds its payload still ends the
    /// connection (RFC 9113 §6.1).
    @Test func anInvalidPadLengthAfterTheAnswerEndsTheConnection() throws {
        let h = try ProxyHarness(routes: HTTP2Tests.routes)
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port)
        client.request(stream: 1, method: "POST", path: "/answer-early", extra: [("content-length", "100")], endStream: false)
        #expect(client.response(stream: 1)?.status == 302)
        // PADDED (0x8): pad length 200 in a 4-byte payload.
        client.sendFrame(type: H2FrameClient.data, flags: 0x8, stream: 1, payload: [200, 1, 2, 3])
        let frames = client.readUntilClosed()
        #expect(H2FrameClient.goAwayCode(frames) == 1, "GOAWAY(PROTOCOL_ERROR)")
        #expect(client.closedByServer)
    }

    /// A client's trailers for a stream the proxy reset are ignored (RFC 9113 §5.1), even
    /// after many other streams of the connection ended normally. Before, every closed
    /// stream entered the eight-entry list of closed streams: once nghttp2 had forgotten the
    /// reset one (it keeps as many closed streams as may be open at once), ordinary
    /// requests had pushed it out of the list too, and its trailers were taken for a new
    /// stream below the highest — GOAWAY(PROTOCOL_ERROR), every stream of the connection cut.
    @Test func trailersForAResetStreamAfterManyOthersEndedAreIgnored() throws {
        let h = try ProxyHarness(routes: HTTP2Tests.routes)
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port)
        client.request(stream: 1, method: "POST", path: "/answer-early", extra: [("content-length", "10")], endStream: false)
        #expect(client.response(stream: 1)?.status == 302)
        // More body than the content-length said: the stream is reset.
        client.sendFrame(type: H2FrameClient.data, flags: 0, stream: 1, payload: [UInt8](repeating: 7, count: 20))
        var reset = false
        while !reset, let frame = client.readFrame() {
            reset = frame.type == H2FrameClient.rstStream && frame.stream == 1
        }
        #expect(reset, "RST_STREAM on stream 1")
        // More than nghttp2 keeps of closed streams (as many as the streams allowed at once)
        // and more than the list of reset ones holds.
        for stream in stride(from: UInt32(3), through: 401, by: 2) {
            client.request(stream: stream, path: "/n\(stream)")
            #expect(client.response(stream: stream)?.status == 200, "stream \(stream)")
        }
        // The client's trailers for stream 1, in flight when the reset came.
        client.sendFrame(type: H2FrameClient.headers, flags: H2FrameClient.endStream | H2FrameClient.endHeaders, stream: 1,
                         payload: H2FrameClient.headerBlock([("x-checksum", "abc")]))
        client.request(stream: 403, path: "/after")
        let after = client.response(stream: 403)
        #expect(after?.status == 200, "the connection goes on")
    }

    /// HEADERS on a stream id below one the client already opened is a connection error
    /// (RFC 9113 §5.1.1), not silence that leaves the client waiting.
    @Test func headersOnALowerStreamIdEndTheConnection() throws {
        let h = try ProxyHarness(routes: HTTP2Tests.routes)
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port)
        client.request(stream: 5, path: "/a")
        #expect(client.response(stream: 5)?.status == 200)
        client.request(stream: 3, path: "/b")
        let frames = client.readUntilClosed()
        #expect(H2FrameClient.goAwayCode(frames) == 1, "GOAWAY(PROTOCOL_ERROR)")
        #expect(client.closedByServer)
        #expect(!h.legacy.requestHeads.contains { $0.contains("GET /b ") }, "the stream was never forwarded")
    }
}
