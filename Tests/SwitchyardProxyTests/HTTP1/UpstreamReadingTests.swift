import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardSystem

/// The plain upstream reader (`DownstreamConnection.readFromUpstream`) on an
/// edge-triggered socket: a server's end that arrived together with its answer.
@Suite struct UpstreamReadingTests {
    /// The server answers with keep-alive (no `Connection: close`) and closes the socket at
    /// once, so its answer and its end reach the proxy in one readiness report. The end must
    /// be taken with the answer: pooled, the connection would be dead for the next request,
    /// and a form post, which is never replayed, would get a 502. Each post here must reach
    /// the server on a connection of its own.
    @Test func aServerThatClosesRightAfterItsAnswerIsNotReusedForTheNextPost() throws {
        let origin = try AnswerThenCloseOrigin.start()
        defer { origin.server.stop() }
        let h = try ProxyHarness(routes: ProxyHarness.routes(toOriginAt: origin.server.port))
        defer { h.stop() }
        let client = try h.client()
        let rounds = 20
        var posted = 0
        for i in 0..<rounds {
            #expect(client.get("/page/\(i)")?.status == 200)
            // Time for the proxy to have handled the server's end, as it would under
            // level-triggered epoll: what is left to check is that it was seen at all.
            usleep(20_000)
            _ = client.send("POST /form/\(i) HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nhello")
            let answer = client.readResponse()
            if answer?.status == 200 && answer?.text == "answered /form/\(i) with 5 bytes\n" { posted += 1 }
        }
        #expect(posted == rounds, "\(posted) of \(rounds) posts answered by the server")
        #expect(origin.connections() == 2 * rounds, "one connection per request: none reused after the server closed it")
    }
}

/// A plain HTTP/1.1 server that answers one request per connection with keep-alive (a
/// `Content-Length`, no `Connection: close`) and closes the socket right after the answer.
enum AnswerThenCloseOrigin {
    static func start() throws -> (server: OneThreadServer, connections: @Sendable () -> Int) {
        try OneThreadServer.counting { fd in
            let head = String(decoding: readRequestHead(fd), as: UTF8.self)
            let (target, length) = targetAndLength(ofHead: head)
            var body = "answered \(target)\n"
            if let length {
                var received = 0
                var byte: UInt8 = 0
                while received < length, Glibc.read(fd, &byte, 1) == 1 { received += 1 }
                body = "answered \(target) with \(received) bytes\n"
            }
            _ = writeAll(fd, Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
        }
    }
}
