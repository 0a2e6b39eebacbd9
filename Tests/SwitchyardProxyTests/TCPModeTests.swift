import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardOrigin
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardSystem

/// TCP (L4) mode: bytes relayed with splice(2), the backend chosen once per connection.
@Suite struct TCPModeTests {
    /// A server that fills the way toward its one client (`byte(i)` for the i-th byte), then
    /// resets; `acknowledged` becomes the bytes the proxy's kernel had taken (-1 until then).
    func fillingServerThatResets(_ byte: @escaping @Sendable (Int) -> UInt8) throws -> (OneThreadServer, Locked<Int>) {
        let acknowledged = Locked(-1)
        let server = try OneThreadServer { listener in
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            let sent = fillThenReset(fd, byte: byte)
            acknowledged.withLock { $0 = sent }
        }
        return (server, acknowledged)
    }

    /// A started one-worker proxy with a `mode tcp` route to `servers` (in order), and its port.
    func tcpProxy(servers: [UInt16], errorLog: ErrorLog = .standardError,
                  settings: (inout ProxySettings) -> Void = { _ in }) throws -> (Proxy, UInt16) {
        let config = try RoutesConfig.parse("""
            backend db {
            \(servers.map { "    server 127.0.0.1:\($0)" }.joined(separator: "\n"))
            }
            route tds {
                mode tcp
                listen 127.0.0.1:0
                backend db
            }
            """, file: "tcp.routes")
        var tuned = ProxySettings(workers: 1)
        settings(&tuned)
        let proxy = try Proxy(table: RouteTable.build(config: config, state: RuntimeState(), generation: 1),
                              settings: tuned, errorLog: errorLog)
        proxy.start()
        guard let address = proxy.tcpAddresses["tds"] else {
            proxy.shutdown(graceMilliseconds: 0)
            throw Errno(code: EADDRNOTAVAIL, call: "tcp listener")
        }
        return (proxy, address.port)
    }

    /// A backend that speaks first (an SMTP or database greeting) is heard by a client that
    /// has sent nothing: a TCP-mode listener accepts at once (HTTP listeners wait for the
    /// client's first bytes, `ListenerOptionsTests`).
    @Test func aBackendThatSpeaksFirstIsHeardByASilentClient() throws {
        let greeting = Array("220 ready\r\n".utf8)
        let server = try OneThreadServer { listener in
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            _ = writeAll(fd, greeting)
            Glibc.close(fd)
        }
        defer { server.stop() }
        let (proxy, port) = try tcpProxy(servers: [server.port])
        defer { proxy.shutdown(graceMilliseconds: 500) }
        let client = try TestClient(port: port, timeoutSeconds: 5)
        #expect(client.readToEnd() == greeting)
    }

    @Test func echoWithHalfClose() throws {
        let echo = try EchoServer()
        echo.start()
        defer { echo.stop() }
        let (proxy, port) = try tcpProxy(servers: [ProxyHarness.deadPort(), echo.port])
        defer { proxy.shutdown(graceMilliseconds: 500) }
        for round in 0..<3 {
            let client = try TestClient(port: port)
            let payload = [UInt8]((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ round) })
            client.send(payload)
            // Half-close: we are done sending but still want everything back.
            client.shutdownWrite()
            let back = client.readToEnd()
            #expect(back.count == payload.count)
            #expect(back == payload)
        }
        #expect(echo.connections == 3, "a dead first server is skipped, the live one serves")
    }

    @Test func noServerClosesTheClient() throws {
        let (proxy, port) = try tcpProxy(servers: [ProxyHarness.deadPort()])
        defer { proxy.shutdown(graceMilliseconds: 500) }
        let client = try TestClient(port: port)
        #expect(client.readToEnd().isEmpty)
        #expect(proxy.stats().noServer == 1)
    }

    /// A server sending in small packets (100-byte writes, TCP_NODELAY) to a client that reads
    /// nothing: the pipe's 16 buffers fill with 1,600 bytes, far below the byte count the
    /// relay allowed, while the server's socket stays readable. Before, the worker spun on that
    /// readable socket, and every spin pushed the idle deadline, so the tunnel never idled
    /// out; now reading waits for the pipe to drain, and the idle timeout (3 s here) ends it.
    @Test func aClientThatReadsNothingFromASmallPacketServerIdlesOut() throws {
        let server = try SmallPacketServer()
        defer { server.stop() }
        let (proxy, port) = try tcpProxy(servers: [server.port]) { $0.tunnelIdleTimeoutMilliseconds = 3_000 }
        defer { proxy.shutdown(graceMilliseconds: 500) }
        let listeners = proxy.registeredDescriptors()
        let client = try TestClient(port: port)
        var small: Int32 = 4096
        setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try waitFor("the server to stop, blocked", seconds: 10) { server.blocked }
        #expect(proxy.registeredDescriptors() == listeners + 2, "the tunnel is open while the client reads nothing")
        try waitFor("the idle tunnel to close", seconds: 8) { proxy.registeredDescriptors() == listeners }
    }

    /// A client that resets while the proxy still connects to a server that does not answer
    /// (its accept queue is full): the tunnel ends at once. Before, the client's reset was
    /// reported at every wait until the connect timed out (10 s here), the worker spinning.
    @Test func aClientResetDuringTheConnectEndsTheTunnelAtOnce() throws {
        let full = try FullBacklogListener()
        let (proxy, port) = try tcpProxy(servers: [full.port]) { $0.connectTimeoutMilliseconds = 10_000 }
        defer { proxy.shutdown(graceMilliseconds: 500) }
        let listeners = proxy.registeredDescriptors()
        let fd = try Socket.connectBlocking(to: SocketAddress(ip: "127.0.0.1", port: port)!)
        try waitFor("the proxy to start connecting", seconds: 5) { proxy.registeredDescriptors() == listeners + 2 }
        resetOnClose(fd.rawValue)
        fd.close()
        try waitFor("the tunnel to end", seconds: 3) { proxy.registeredDescriptors() == listeners }
    }

    /// A server that fills the way to a client reading nothing, then resets (closes with
    /// SO_LINGER 0, as some do). The proxy cannot read the reset (its pipe is full) and
    /// level-triggered epoll reports the hang-up at every wait: before, the worker spun on it
    /// (a whole CPU) until the client read; now that side is muted and read as the pipe
    /// drains. Then every byte the proxy's kernel acknowledged reaches the client.
    @Test func aServerResetWhileTheClientReadsNothingDoesNotSpinTheWorker() throws {
        let (server, acknowledged) = try fillingServerThatResets { UInt8(truncatingIfNeeded: $0 &* 11 &+ $0 >> 8) }
        defer { server.stop() }
        let (proxy, port) = try tcpProxy(servers: [server.port])
        defer { proxy.shutdown(graceMilliseconds: 500) }
        let client = try TestClient(port: port, timeoutSeconds: 10)
        try waitFor("the server to reset", seconds: 20) { acknowledged.withLock { $0 } >= 0 }
        let spent = try WorkerThreadCPU(proxy).used(over: 1)
        #expect(spent < 50, "the worker used \(spent) of a second's 100 clock ticks while nothing could move")
        let received = readUntilEnd(client.fd).bytes
        let expected = acknowledged.withLock { $0 }
        #expect(received.count == expected, "\(received.count) of the \(expected) acknowledged bytes reached the client")
        let same = received.indices.allSatisfy { received[$0] == UInt8(truncatingIfNeeded: $0 &* 11 &+ $0 >> 8) }
        #expect(same, "the bytes differ")
    }

    /// The same reset, but the client goes on sending after it: bytes the tunnel no longer
    /// reads (the server is gone). Closing the client's socket with them unread sent a reset,
    /// and the reset threw away the server's last bytes still queued in the proxy's kernel
    /// for a client that had not read them yet. Now the tunnel shuts its side down behind
    /// them and reads and drops the client's bytes until the client closes.
    @Test func aServerResetWithTheClientStillSendingDeliversEverythingTheServerSent() throws {
        let (server, acknowledged) = try fillingServerThatResets { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 10) }
        defer { server.stop() }
        let (proxy, port) = try tcpProxy(servers: [server.port])
        defer { proxy.shutdown(graceMilliseconds: 500) }
        let client = try TestClient(port: port, timeoutSeconds: 10)
        try waitFor("the server to reset", seconds: 20) { acknowledged.withLock { $0 } >= 0 }
        // The first piece goes into the pipe and fails toward the dead server; the rest stays
        // unread in the proxy's socket.
        for _ in 0..<2 {
            _ = client.send(String(repeating: "after the reset\n", count: 64))
            usleep(200_000)
        }
        // A client that reads slowly.
        let (received, lastError) = readUntilEnd(client.fd, chunkSize: 4 << 10) { usleep($0 % (256 << 10) < 4 << 10 ? 20_000 : 0) }
        let expected = acknowledged.withLock { $0 }
        #expect(expected > 64 << 10, "\(expected) bytes acknowledged")
        #expect(received.count == expected, "\(received.count) of the \(expected) acknowledged bytes reached the client (errno \(lastError))")
        #expect(lastError == 0, "the client's read ended with errno \(lastError), not the end of the stream")
        let same = received.indices.allSatisfy { received[$0] == UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 10) }
        #expect(same, "the bytes differ")
    }

    /// The client's end arrives while the way to the server is full (the client's bytes sit
    /// unread in the proxy's socket, its hang-up muted), after the server sent its answer and
    /// its end; then the server resets. The tunnel read nothing more from a muted client and
    /// closed with those bytes unread: a reset, and what the client had not yet received of
    /// the answer was lost. Now it reads the client to its end first.
    @Test func aClientThatHalfClosedWithItsBytesUnreadStillGetsTheWholeAnswer() throws {
        let answerBytes = 400 << 10
        let step = DispatchSemaphore(value: 0), next = DispatchSemaphore(value: 0)
        let acknowledged = Locked(-1)
        let server = try OneThreadServer { listener in
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var hello = UInt8(ascii: "h")
            _ = Glibc.send(fd, &hello, 1, Int32(MSG_NOSIGNAL))   // through the proxy: the tunnel is up
            guard next.wait(timeout: .now() + 20) == .success else { Glibc.close(fd); return }   // the client filled the way
            var answer = [UInt8](repeating: 0, count: answerBytes)
            for i in answer.indices { answer[i] = UInt8(truncatingIfNeeded: i &* 5 &+ i >> 9) }
            let sent = answer.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            Glibc.shutdown(fd, Int32(SHUT_WR))
            usleep(300_000)   // the answer and its end pass the proxy
            // Take a little of the upload: the proxy reads the client again, which opens the
            // client's window for its end, and fills its pipe toward here once more.
            var taken = 0
            var scratch = [UInt8](repeating: 0, count: 16 << 10)
            while taken < 96 << 10 {
                let n = scratch.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                taken += n
            }
            step.signal()
            guard next.wait(timeout: .now() + 20) == .success else { Glibc.close(fd); return }   // the client half-closed
            acknowledged.withLock { $0 = resetNow(fd, sent: max(sent, 0)) }
            step.signal()
        }
        defer { server.stop() }
        let (proxy, port) = try tcpProxy(servers: [server.port])
        defer { proxy.shutdown(graceMilliseconds: 500) }
        let client = try TestClient(port: port, timeoutSeconds: 10)
        // A small send buffer: the client's own queue holds little of what it sends.
        var small: Int32 = 4096
        setsockopt(client.fd, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var hello: UInt8 = 0
        #expect(Glibc.read(client.fd, &hello, 1) == 1 && hello == UInt8(ascii: "h"), "the tunnel did not open")
        let uploaded = fill(client.fd) { UInt8(truncatingIfNeeded: $0) }
        #expect(uploaded > 64 << 10, "only \(uploaded) bytes went toward a server that reads nothing")
        next.signal()
        #expect(step.wait(timeout: .now() + 20) == .success, "the server did not answer")
        // Its own queue empty, the client's end goes out alone (not behind bytes waiting for
        // the proxy's window).
        var unsent: Int32 = 1
        for _ in 0..<100 where unsent > 0 {
            usleep(20_000)
            _ = ioctl(client.fd, UInt(TIOCOUTQ), &unsent)
        }
        Glibc.shutdown(client.fd, Int32(SHUT_WR))
        usleep(300_000)   // the proxy sees the hang-up while its pipe toward the server is full
        next.signal()
        #expect(step.wait(timeout: .now() + 20) == .success, "the server did not reset")
        usleep(300_000)
        _ = fcntl(client.fd, F_SETFL, fcntl(client.fd, F_GETFL) & ~O_NONBLOCK)
        let (received, lastError) = readUntilEnd(client.fd)
        let expected = acknowledged.withLock { $0 }
        #expect(expected == answerBytes, "the proxy's kernel acknowledged \(expected) of the \(answerBytes) bytes")
        #expect(received.count == expected, "\(received.count) of the \(expected) acknowledged bytes reached the client (errno \(lastError))")
        #expect(lastError == 0, "the client's read ended with errno \(lastError), not the end of the stream")
        let same = received.indices.allSatisfy { received[$0] == UInt8(truncatingIfNeeded: $0 &* 5 &+ $0 >> 9) }
        #expect(same, "the bytes differ")
    }

    /// A dead server behind a TCP route is ejected after three failed connects, as on the
    /// HTTP path: before, every new client tried it again and wrote an error line of its own,
    /// at whatever rate anyone could connect.
    @Test func aDeadServerIsEjectedAndItsFailuresDoNotFloodTheLog() throws {
        let path = NSTemporaryDirectory() + "switchyard-tcp-\(UUID().uuidString).log"
        defer { unlink(path) }
        let dead = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false)
        let deadPort = try Socket.localAddress(dead).port
        dead.close()
        let (proxy, port) = try tcpProxy(servers: [deadPort], errorLog: ErrorLog(path: path))
        defer { proxy.shutdown(graceMilliseconds: 0) }
        for _ in 0..<20 {
            let client = try TestClient(port: port, timeoutSeconds: 2)
            _ = client.readToEnd()
        }
        let log = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let lines = log.split(separator: "\n").filter { $0.contains("tcp upstream") }
        #expect(lines.count <= 3, "\(lines.count) lines: \(log)")
        #expect(log.contains("ejected for 10 s after 3 failures in a row"), "\(log)")
    }
}

/// Accepts one connection and writes 100-byte packets to it (TCP_NODELAY) until a write
/// blocks for half a second: then `blocked`.
final class SmallPacketServer: @unchecked Sendable {
    private var server: OneThreadServer!
    var port: UInt16 { server.port }
    private let lock = NSLock()
    private var isBlocked = false
    var blocked: Bool { lock.withLock { isBlocked } }

    init() throws {
        server = try OneThreadServer { [self] listener in serve(listener) }
    }

    func stop() { server.stop() }

    private func serve(_ listener: Int32) {
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return }
        defer { Glibc.close(fd) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var half = timeval(tv_sec: 0, tv_usec: 500_000)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &half, socklen_t(MemoryLayout<timeval>.size))
        let packet = [UInt8](repeating: UInt8(ascii: "s"), count: 100)
        while packet.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) > 0 {}
        lock.withLock { isBlocked = true }
        // Keep the connection until the test ends.
        var byte: UInt8 = 0
        while Glibc.recv(fd, &byte, 1, 0) > 0 {}
    }
}
