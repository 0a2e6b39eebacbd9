import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// An HTTP/2 stream's answer of known length is read from a plain upstream socket straight
/// into the stream's staged body (`DownstreamConnection.receiveIntoStream`), never past
/// the answer's last byte, and not at all while that body is full; the body bytes read
/// with the head become the stream's body without a copy (`H2Stream.adoptBody`). What a
/// server sends after that last byte must not reach the client, and must keep the
/// connection from being reused; an answer held by the client's window must resume when
/// it opens.
@Suite struct H2ReceiveIntoStreamTests {
    /// The server sends the body with a whole second answer glued behind it. Stream 1 gets
    /// the body and nothing more; stream 3 is served on a new connection with its own
    /// answer.
    /// - The head apart (a pause after it), 40,000 bytes: the body is read on its own, into
    ///   the stream. Read to the socket's end, the glued answer would sit there unseen, the
    ///   connection would go back to its pool, and stream 3 would be answered "EVIL!".
    /// - Head, body and the glued answer in one write of 4,000 bytes and more: one read
    ///   brings all of it. Adopted whole as stream 1's body, the read buffer would carry
    ///   "EVIL!" to the client and leave nothing behind to keep the connection from its pool.
    @Test(arguments: [(true, 40_000), (false, 4_000)])
    func bytesAfterTheAnswerNeverReachTheClientNorTheNextStream(headApart: Bool, bodyBytes: Int) throws {
        let origin = try GluedAnswerOrigin.start(bodyBytes: bodyBytes, headApart: headApart)
        defer { origin.server.stop() }
        let h = try ProxyHarness(routes: """
            listen http 127.0.0.1:0 h2c
            backend legacy {
                server 127.0.0.1:\(origin.server.port)
            }
            route app {
                backend legacy
            }
            """)
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port, timeoutSeconds: 10)

        client.request(stream: 1, path: "/first")
        let first = try #require(client.response(stream: 1))
        #expect(first.status == 200 && first.reset == nil)
        #expect(first.body.count == bodyBytes, "the body and nothing after it (\(first.body.count) bytes)")
        #expect(first.body.allSatisfy { $0 == UInt8(ascii: "y") })

        client.request(stream: 3, path: "/second")
        let second = try #require(client.response(stream: 3))
        #expect(second.status == 200)
        #expect(second.body.count == bodyBytes && second.body.allSatisfy { $0 == UInt8(ascii: "y") },
                "stream 3 got its own answer, not the glued one (\(second.body.prefix(16).map { Character(UnicodeScalar($0)) }))")
        #expect(origin.connections() == 2, "the connection that sent bytes after its answer was not reused")
    }

    /// A client that grants no window for a while: the stream's staged body fills, the next
    /// upstream read waits with the rest of the answer in the socket (no event will tell of
    /// it: the socket is edge-triggered), and once the client opens its window the answer
    /// resumes and arrives whole. Without the read asked for again on resume it stalls.
    @Test func anAnswerHeldByTheClientsWindowResumesWhenItOpens() throws {
        let h = try ProxyHarness(routes: HTTP2Tests.routes)
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port, timeoutSeconds: 10)
        let size = 1_000_000
        client.request(stream: 1, path: "/big?bytes=\(size)")
        var body: [UInt8] = []
        var ended = false
        // The default stream window: 65,535 bytes, and no WINDOW_UPDATE yet.
        while body.count < 65_535, let frame = client.readFrame() {
            if frame.type == H2FrameClient.data && frame.stream == 1 { body += frame.payload }
            if frame.type == H2FrameClient.rstStream { Issue.record("stream reset"); return }
        }
        #expect(body.count == 65_535, "the first window's worth, then nothing until it opens")
        usleep(300_000)   // the staged body fills; the upstream read waits
        client.sendFrame(type: H2FrameClient.windowUpdate, flags: 0, stream: 1, payload: H2FrameClient.uint32(UInt32(size)))
        while !ended, let frame = client.readFrame() {
            guard frame.stream == 1 else { continue }
            if frame.type == H2FrameClient.data { body += frame.payload }
            if frame.type == H2FrameClient.rstStream { Issue.record("stream reset"); return }
            if frame.type == H2FrameClient.data && frame.flags & H2FrameClient.endStream != 0 { ended = true }
        }
        #expect(ended, "the answer ended (\(body.count) of \(size) bytes)")
        #expect(body.count == size && body.allSatisfy { $0 == UInt8(ascii: "x") }, "every byte, the origin's")
    }
}

/// A plain HTTP/1.1 server, one connection at a time: to each request a `Content-Length`
/// head, then the body with a complete second answer ("EVIL!") glued behind it in the same
/// write; then the next request on the same connection. `headApart`: the head is written
/// on its own, and the body 50 ms later.
enum GluedAnswerOrigin {
    static func start(bodyBytes: Int, headApart: Bool) throws -> (server: OneThreadServer, connections: @Sendable () -> Int) {
        try OneThreadServer.counting { fd in
            while !readRequestHead(fd).isEmpty {
                let head = Array("HTTP/1.1 200 OK\r\nContent-Length: \(bodyBytes)\r\n\r\n".utf8)
                let glued = [UInt8](repeating: UInt8(ascii: "y"), count: bodyBytes)
                    + Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!".utf8)
                if headApart {
                    guard writeAll(fd, head) else { return }
                    usleep(50_000)
                    guard writeAll(fd, glued) else { return }
                } else {
                    guard writeAll(fd, head + glued) else { return }
                }
            }
        }
    }
}
