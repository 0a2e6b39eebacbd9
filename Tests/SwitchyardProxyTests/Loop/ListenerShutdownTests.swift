import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardRouting
@testable import SwitchyardProxy
@testable import SwitchyardSystem

/// Shutdown closes the listeners without resetting clients that had connected
/// (`HandshakeGate`, `Worker.beginDrain`/`closeListeners`).
@Suite struct ListenerShutdownTests {
    /// With deferred accept, a client that has connected and not yet spoken waits in the
    /// kernel, not in a worker. A shutdown that closed the listener at once reset it, and its
    /// request, sent a moment later, was lost. Now it is answered, with `Connection: close`.
    @Test func aClientThatConnectedBeforeTheShutdownIsAnsweredNotReset() throws {
        let h = try ProxyHarness()
        let client = try h.client()
        let port = h.port
        #expect(waitUntil(5) { HandshakeGate.inProgress(ports: [port]) >= 1 },
                "the silent client's connection waits in the kernel (SYN_RECV under deferred accept)")
        let stopped = DispatchSemaphore(value: 0)
        Thread { h.stop(); stopped.signal() }.start()
        usleep(300_000)
        #expect(stopped.wait(timeout: .now()) == .timedOut, "the shutdown waits for the client that connected")
        #expect(client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        let response = client.readResponse()
        #expect(response?.status == 200, "answered, not reset")
        #expect(response?.header("Connection") == "close")
        #expect(stopped.wait(timeout: .now() + 10) == .success, "the shutdown finished once it was answered")
        #expect(h.legacy.requestCount == 1)
    }

    /// Once the shutdown has begun, a new client does not complete its handshake: it could
    /// not be sure of an answer. Its connect waits (the SYN is dropped and resent), and is
    /// refused once the listener has closed; it never sent anything to lose.
    @Test func aNewClientDuringTheShutdownIsNotLetIn() throws {
        let h = try ProxyHarness()
        let early = try h.client()   // keeps the shutdown waiting
        let stopped = DispatchSemaphore(value: 0)
        Thread { h.stop(); stopped.signal() }.start()
        usleep(200_000)
        let (late, connected) = try Socket.connect(to: SocketAddress(ip: "127.0.0.1", port: h.port)!)
        defer { late.close() }
        #expect(!connected)
        let writable = Socket.waitReady(late, events: Int32(POLLOUT), until: Clock.monotonicMilliseconds() + 500)
        #expect(!writable, "the new client's handshake does not complete while the listener drains")
        #expect(early.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(early.readResponse()?.status == 200)
        #expect(stopped.wait(timeout: .now() + 10) == .success)
        // The listener is gone: the resent SYN meets a closed port.
        #expect(Socket.waitReady(late, events: Int32(POLLOUT), until: Clock.monotonicMilliseconds() + 5_000))
        #expect(Socket.takeError(late) == ECONNREFUSED)
    }

    /// A socket systemd activated stays systemd's after an upgrade: its name says so to the
    /// next process, which then neither holds nor waits on it at shutdown.
    @Test func systemdsSocketsKeepTheirOwnerAcrossAnUpgrade() throws {
        let a = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: true)
        let b = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: true)
        defer { a.close(); b.close() }
        let addressA = try Socket.localAddress(a), addressB = try Socket.localAddress(b)
        var inherited = InheritedListeners([(name: "systemd listen 0 \(addressA)", fd: a), (name: "listen 1 \(addressB)", fd: b)])
        #expect(inherited.take(matching: addressA).keptBySystemd)
        #expect(!inherited.take(matching: addressB).keptBySystemd)
    }

    /// Proxy: a listener's socket that systemd keeps is named so in what an upgrade hands
    /// over, and its port is not waited on at shutdown; a socket it bound itself is.
    @Test func theProxyWaitsOnlyOnTheSocketsItOwns() throws {
        let fd = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: true)
        let port = try Socket.localAddress(fd).port
        let config = try RoutesConfig.parse("""
            listen http 127.0.0.1:\(port)
            listen http 127.0.0.1:0
            backend legacy {
                server 127.0.0.1:1
            }
            route app {
                backend legacy
            }
            """, file: "test.routes")
        let table = try RouteTable.build(config: config, state: RuntimeState(), generation: 1)
        let proxy = try Proxy(table: table, settings: ProxySettings(workers: 1), errorLog: .standardError,
                              inherited: InheritedListeners([(name: "web", fd: fd)], fromSystemd: true))
        proxy.start()
        let names = proxy.listeningSockets.map(\.name)
        let own = try #require(proxy.httpAddresses.last).port
        proxy.shutdown(graceMilliseconds: 2_000)
        #expect(names == ["systemd listen 0 127.0.0.1:\(port)", "listen 1 127.0.0.1:\(own)"])
        #expect(proxy.handshakePorts == [own])
    }

    /// The parse of /proc/net/tcp: SYN_RECV (03) lines on the given local ports, whatever
    /// the address family; other states, other ports and lines that do not parse count for
    /// nothing.
    @Test func inProgressCountsHandshakesOnTheGivenPorts() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
               1: 0100007F:1F90 0100007F:D2A4 03 00000000:00000000 02:00000066 00000000     0        0 0 0
               2: 0100007F:1F90 0100007F:D2A6 03 00000000:00000000 02:00000066 00000000     0        0 0 0
               3: 0100007F:1F91 0100007F:D2A8 03 00000000:00000000 02:00000066 00000000     0        0 0 0
               4: 0100007F:1F90 0100007F:D2AA 01 00000000:00000000 00:00000000 00000000     0        0 2 1
               5: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D2AC 03 0 0
               6: garbage 03
               7: 0100007F:ZZZZ 0100007F:D2AE 03
            """
        #expect(HandshakeGate.inProgress(table: Array(table.utf8), ports: [0x1F90]) == 3)
        #expect(HandshakeGate.inProgress(table: Array(table.utf8), ports: [0x1F91]) == 1)
        #expect(HandshakeGate.inProgress(table: Array(table.utf8), ports: [80]) == 0)
    }
}
