import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
@testable import SwitchyardProxy
import SwitchyardSystem

/// Socket options set once on each listening socket (`Worker.addListener`), for the sockets
/// accept(2) returns to inherit.
@Suite struct ListenerOptionsTests {
    static func tcpOption(_ fd: FileDescriptor, _ name: Int32) -> Int32 {
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd.rawValue, Int32(IPPROTO_TCP), name, &value, &length) == 0 else { return -1 }
        return value
    }

    /// Every listener carries TCP_NODELAY (accepted sockets inherit it, no setsockopt a
    /// connection); HTTP listeners defer accepting until the client's first bytes, TCP-mode
    /// ones do not (there the server may speak first).
    @Test func httpListenersDeferAcceptTCPModeListenersDoNot() throws {
        let h = try ProxyHarness(routes: """
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            route app {
                backend legacy
            }
            route raw {
                mode tcp
                listen 127.0.0.1:0
                backend legacy
            }
            """)
        defer { h.stop() }
        let tcpPort = try #require(h.proxy.tcpAddresses["raw"]).port
        var kinds: [String] = []
        for (_, fd) in h.proxy.listeningSockets {
            let port = try Socket.localAddress(fd).port
            #expect(Self.tcpOption(fd, TCP_NODELAY) == 1, "listener on port \(port) has TCP_NODELAY")
            let deferred = Self.tcpOption(fd, TCP_DEFER_ACCEPT)
            if port == tcpPort {
                kinds.append("tcp")
                #expect(deferred == 0, "a TCP-mode listener accepts at once")
            } else {
                kinds.append("http")
                #expect(deferred > 0, "an HTTP listener defers accept")
            }
        }
        #expect(kinds.sorted() == ["http", "tcp"])
    }

    /// A client that has connected and said nothing is held by the kernel, not by a worker;
    /// its first bytes hand it over and it is answered as ever, with TCP_NODELAY inherited.
    @Test func aSilentClientReachesTheWorkerWhenItSpeaks() throws {
        let h = try ProxyHarness()
        defer { h.stop() }
        let client = try h.client()
        usleep(300_000)
        #expect(h.proxy.onFirstWorker { $0.connectionCount } == 0, "not accepted before its first bytes")
        #expect(client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(client.readResponse()?.status == 200)
        #expect(h.proxy.onFirstWorker { $0.connectionCount } == 1)
    }
}
