import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy
import SwitchyardSystem

/// A server that resets while its client reads nothing: the proxy's buffer toward the client
/// is full, so it cannot read the reset, and level-triggered epoll reports the hang-up at
/// every wait. Before, the worker spun on it — a whole CPU, for as long as the client did not
/// read: up to the tunnel's idle timeout (ten minutes) after a 101, as long as the client's
/// patience in an answer. Now that side is muted and the pumps read it as room comes.
@Suite struct TunnelHangUpTests {
    /// In a tunnel after 101 Switching Protocols. Then every byte the proxy's kernel
    /// acknowledged reaches the client (in both tests).
    @Test func aServerResetWhileTheClientReadsNothingDoesNotSpinTheWorker() throws {
        try serverResets(head: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                         request: UpstreamTLSEndOfStreamTests.upgradeRequest)
    }

    /// In the middle of an answer (its length never reached): the client gets what came, then
    /// the connection ends (the answer is cut, its length never reached).
    @Test func aServerResetMidAnswerWhileTheClientReadsNothingDoesNotSpinTheWorker() throws {
        try serverResets(head: "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n",
                         request: "GET /big HTTP/1.1\r\nHost: app\r\n\r\n")
    }

    /// Cut mid-answer while the client has more unread in the proxy's socket (a request
    /// body pipelined behind the GET): the connection closed at once, and with bytes unread
    /// that close was a reset, which threw away what the proxy's kernel still held for the
    /// client. Now what came still goes out, then a half-close and a linger.
    @Test func aCutAnswerReachesAClientWhoseNextRequestIsUnread() throws {
        try serverResets(head: "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n",
                         request: "GET /big HTTP/1.1\r\nHost: app\r\n\r\n"
                             + "POST /up HTTP/1.1\r\nHost: app\r\nContent-Length: 100000000\r\n\r\n",
                         thenFill: true)
    }

    /// The same in a tunnel after 101, the client still sending when the server resets (a
    /// guard: the tunnel passes the server's end on before anything closes, and this passed
    /// before the fix above too).
    @Test func aCutTunnelReachesAClientStillSending() throws {
        try serverResets(head: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                         request: UpstreamTLSEndOfStreamTests.upgradeRequest, thenFill: true)
    }

    func serverResets(head: String, request: String, thenFill: Bool = false) throws {
        let acknowledged = Locked(-1)
        let server = try OneThreadServer { listener in
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            _ = readRequestHead(fd)
            _ = writeAll(fd, Array(head.utf8))
            let sent = fillThenReset(fd) { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 9) }
            acknowledged.withLock { $0 = sent }
        }
        defer { server.stop() }
        let h = try ProxyHarness(routes: """
            backend ws {
                server 127.0.0.1:\(server.port)
            }
            route app {
                backend ws
            }
            """)
        defer { h.stop() }
        let client = try h.client(timeoutSeconds: 10)
        client.send(request)
        if thenFill {
            // The pipelined body until the way is full: the proxy leaves the rest unread.
            _ = fill(client.fd) { _ in UInt8(ascii: "x") }
            _ = fcntl(client.fd, F_SETFL, fcntl(client.fd, F_GETFL) & ~O_NONBLOCK)
        }
        try waitFor("the server to reset", seconds: 20) { acknowledged.withLock { $0 } >= 0 }
        let spent = try WorkerThreadCPU(h.proxy).used(over: 1)
        #expect(spent < 50, "the worker used \(spent) of a second's 100 clock ticks while nothing could move")
        let received = client.readToEnd()
        let expected = acknowledged.withLock { $0 }
        #expect(expected > 64 << 10, "\(expected) bytes acknowledged")
        #expect(received.starts(with: Array(head.prefix(13).utf8)), "\(String(decoding: received.prefix(40), as: UTF8.self))")
        let payload = try #require(UpstreamTLSEndOfStreamTests.body(of: received), "no complete head")
        #expect(payload.count == expected, "\(payload.count) of the \(expected) acknowledged bytes reached the client")
        let same = payload.enumerated().allSatisfy { $0.element == UInt8(truncatingIfNeeded: $0.offset &* 13 &+ $0.offset >> 9) }
        #expect(same, "the bytes differ")
    }
}
