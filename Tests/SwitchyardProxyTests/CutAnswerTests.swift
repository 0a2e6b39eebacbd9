import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy

/// An answer whose end is the connection's close, cut by the server's reset: the client must
/// not take what came for the whole answer.
@Suite struct CutAnswerTests {
    /// Before, the reset cleared the "until close" mark, so the proxy ended the client's
    /// connection with an orderly close: the first half read as a complete answer (and with
    /// bytes still waiting to be relayed, the exchange could sit until the upstream timeout).
    /// Now the client gets what came, then a reset.
    @Test func anUntilCloseAnswerCutByAResetEndsTheClientsConnectionWithAReset() throws {
        let body = String(repeating: "half of an answer\n", count: 200)
        let server = try OneThreadServer { listener in
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            _ = readRequestHead(fd)
            _ = writeAll(fd, Array("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n\(body)".utf8))
            usleep(200_000)
            resetOnClose(fd)
            Glibc.close(fd)
        }
        defer { server.stop() }
        let h = try ProxyHarness(routes: """
            backend old {
                server 127.0.0.1:\(server.port)
            }
            route app {
                backend old
            }
            """) { $0.upstreamTimeoutMilliseconds = 30_000 }
        defer { h.stop() }
        let client = try h.client(timeoutSeconds: 20)
        let started = Date()
        _ = client.send("GET /report HTTP/1.1\r\nHost: app\r\n\r\n")
        let (received, lastError) = readUntilEnd(client.fd)
        let text = String(decoding: received, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200"), "\(text.prefix(60))")
        #expect(text.hasSuffix(body), "what came of the answer did not all arrive (\(received.count) bytes)")
        #expect(lastError == ECONNRESET, "the connection ended with errno \(lastError) (0: an orderly end, read as a whole answer)")
        #expect(Date().timeIntervalSince(started) < 10, "the cut took \(Date().timeIntervalSince(started)) s to reach the client")
    }
}
