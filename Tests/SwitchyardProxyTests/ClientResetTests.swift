import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
@testable import SwitchyardProxy
import SwitchyardSystem

/// Clients that reset their connection (a tab closed, a device gone) at awkward moments: the
/// proxy lets them go once, at once, and goes on serving.
@Suite struct ClientResetTests {
    /// The answer's last bytes and the client's reset arrive in one batch of events, the
    /// answer first: the send to the client fails and aborts the connection. Before, the
    /// exchange was then finished all the same, which reopened the closed connection as
    /// `closing` and closed its descriptor a second time — a number another thread may have
    /// been given meanwhile (the debug build's check in `FileDescriptor.close` stops the test
    /// process there).
    @Test func aResetAsTheAnswerCompletesClosesTheConnectionOnce() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        for attempt in 0..<3 {
            let fd = try Socket.connectBlocking(to: SocketAddress(ip: "127.0.0.1", port: h.port)!)
            #expect(writeAll(fd.rawValue, Array("GET /slow?ms=300 HTTP/1.1\r\nHost: app\r\n\r\n".utf8)), "attempt \(attempt)")
            usleep(100_000)   // the request is with the server
            // The worker is held past the answer (at 300 ms) and the reset (at 400 ms).
            let released = DispatchSemaphore(value: 0)
            Thread { _ = h.proxy.onFirstWorker { _ in usleep(600_000) }; released.signal() }.start()
            usleep(300_000)
            Self.reset(fd)
            #expect(released.wait(timeout: .now() + 10) == .success, "attempt \(attempt): the worker came back")
        }
        try waitFor("the reset connections to close", seconds: 10) { h.proxy.stats().openConnections == 0 }
        let client = try h.client()
        #expect(client.get("/after")?.status == 200, "the proxy goes on serving")
    }

    /// A client sending a large body to a server that does not read yet, then resetting:
    /// the proxy's buffer for it is full, so there is no room to read the reset's error.
    /// Level-triggered epoll reports it again and again; before, the worker spun on it until
    /// the server read (here 4 s later) and kept both connections. Now the error alone ends
    /// the exchange.
    @Test func aResetWithTheBufferFullEndsTheExchangeAtOnce() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let fd = try Socket.connectBlocking(to: SocketAddress(ip: "127.0.0.1", port: h.port)!)
        let size = 64 << 20
        #expect(writeAll(fd.rawValue, Array("POST /read-later?ms=4000 HTTP/1.1\r\nHost: app\r\nContent-Length: \(size)\r\n\r\n".utf8)))
        _ = fcntl(fd.rawValue, F_SETFL, fcntl(fd.rawValue, F_GETFL) | O_NONBLOCK)
        // Fill everything between here and the server: our send buffer, the proxy's socket
        // and its buffers. Twice, with a pause, so the proxy has read all it will.
        var sent = 0
        let chunk = [UInt8](repeating: UInt8(ascii: "b"), count: 64 << 10)
        for _ in 0..<2 {
            while true {
                let n = chunk.withUnsafeBytes { Glibc.send(fd.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                sent += n
            }
            usleep(300_000)
        }
        #expect(sent > 1 << 20 && sent < size, "\(sent) bytes sent before the buffers filled")
        #expect(h.proxy.stats().openConnections == 1)
        Self.reset(fd)
        try waitFor("the reset client's connection to close", seconds: 2) { h.proxy.stats().openConnections == 0 }
        let client = try h.client()
        #expect(client.get("/after")?.status == 200, "the proxy goes on serving")
    }

    /// Closes with a reset (SO_LINGER 0) instead of a FIN.
    static func reset(_ fd: FileDescriptor) {
        resetOnClose(fd.rawValue)
        fd.close()
    }
}

/// A listener that stops listening under the proxy (shut down by another process holding
/// the same socket): every accept fails with EINVAL and leaves it reported again at once.
/// Before, only "no descriptors or memory" paused accepting — any other error was taken for
/// one client's, and the worker spun, 64 accepts a wake-up. Now that listener is let go (the
/// error says it is for good; a shut-down socket is reported as hung up whatever the
/// interest, so a pause would not stop the reports), and other errors pause accepting.
@Suite struct ListenerErrorTests {
    @Test func aListenerThatStopsListeningDoesNotSpinTheWorker() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let listener = try #require(h.proxy.listeningSockets.first).fd
        Glibc.shutdown(listener.rawValue, Int32(SHUT_RD))
        usleep(200_000)
        let spent = try WorkerThreadCPU(h.proxy).used(over: 1)
        #expect(spent < 50, "the worker used \(spent) of a second's 100 clock ticks on a dead listener")
    }
}
