import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// "No response within the upstream timeout → 504", on both client protocols, with the
/// timed-out upstream connection thrown away (its late answer must never reach anyone).
@Suite struct UpstreamTimeoutTests {
    static let routes = """
        listen http 127.0.0.1:0 h2c
        timeout upstream 500ms
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        route app {
            backend legacy
        }
        """

    @Test func http1RequestGets504AndTheUpstreamConnectionIsNotReused() throws {
        let h = try ProxyHarness(routes: Self.routes)
        defer { h.stop() }
        let client = try h.client()
        let started = Date()
        let response = try #require(client.get("/slow?ms=3000"))
        let waited = Date().timeIntervalSince(started)
        #expect(response.status == 504)
        #expect(waited >= 0.45 && waited < 2.5, "answered at the 500 ms timeout from the routes file, after \(waited) s")
        #expect(h.legacy.connectionCount == 1)
        // The next request, on a fresh client connection, must not meet the slow answer.
        let next = try #require(try h.client().get("/after"))
        #expect(next.status == 200)
        #expect(next.text == "legacy answered GET /after\n", "not the timed-out request's late answer")
        #expect(h.legacy.connectionCount == 2, "the timed-out upstream connection was closed, not pooled")
    }

    /// Bytes of a next, pipelined request trickled in while the backend hangs are not the
    /// exchange's progress: the 504 still comes at the upstream timeout. They pushed the
    /// deadline, so a byte every 300 ms kept a 500 ms timeout from firing.
    @Test func pipelinedBytesTrickledInDoNotPutTheTimeoutOff() throws {
        let h = try ProxyHarness(routes: Self.routes)
        defer { h.stop() }
        let client = try h.client()
        #expect(client.send("GET /slow?ms=3000 HTTP/1.1\r\nHost: t\r\n\r\n"))
        let fd = client.fd
        let trickle = Thread {
            for byte in Array("GET /next HTTP/1.1\r\n".utf8) {
                usleep(300_000)
                var b = byte
                guard Glibc.send(fd, &b, 1, Int32(MSG_NOSIGNAL)) == 1 else { return }
            }
        }
        let started = Date()
        trickle.start()
        let response = try #require(client.readResponse())
        let waited = Date().timeIntervalSince(started)
        #expect(response.status == 504)
        #expect(waited < 2.0, "answered at the 500 ms timeout, not when the backend did (3 s): \(waited) s")
    }

    @Test func http2StreamGets504AndTheUpstreamConnectionIsNotReused() throws {
        let h = try ProxyHarness(routes: Self.routes)
        defer { h.stop() }
        let client = try H2FrameClient(port: h.port)
        let started = Date()
        client.request(stream: 1, path: "/slow?ms=3000")
        let answer = try #require(client.response(stream: 1))
        let waited = Date().timeIntervalSince(started)
        #expect(answer.status == 504)
        #expect(waited >= 0.45 && waited < 2.5, "answered at the 500 ms timeout, after \(waited) s")
        client.request(stream: 3, path: "/after")
        let next = try #require(client.response(stream: 3))
        #expect(next.status == 200, "the HTTP/2 connection itself goes on")
        #expect(next.text == "legacy answered GET /after\n")
        #expect(h.legacy.connectionCount == 2, "the timed-out upstream connection was closed, not pooled")
    }
}
