import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardTLS

/// An upstream connection goes back to the pool only when nothing its server sent is left
/// unread. An HTTP/1.1 server has nothing legitimate to say after its answer; bytes that
/// follow it (a buggy server's second answer) would otherwise be read as the next request's
/// answer, perhaps another user's. They can wait where the proxy does not look for an idle
/// connection's events: in a TLS session (the proxy decrypts only as far as `fromUpstream`
/// has room), or in the socket while the loop still owes it a read.
@Suite struct UpstreamReuseTests {
    /// The answer and a stray second one arrive in one read; the answer fills the proxy's
    /// (here 4 KiB) buffer to its last byte, so the stray record is still in the session when
    /// the answer ends. The next request must get the server's answer to it, on a new
    /// connection, not the stray bytes.
    @Test func recordsLeftInTheSessionAfterAnAnswerKeepItsConnectionOutOfThePool() throws {
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("origin", name: "localhost")
        let server = try StrayRecordTLSServer(certificate: pki.path("origin.pem"), key: pki.path("origin.key"),
                                              first: Self.first, stray: Self.stray)
        defer { server.stop() }
        let proxy = try ProxyHarness(routes: Self.routes(to: server, pki), settings: { $0.bufferSize = Self.bufferSize })
        defer { proxy.stop() }

        let client = try TestClient(port: proxy.port)
        let answer = try #require(client.get("/first"), "no first answer")
        #expect(answer.status == 200)
        #expect(answer.body.count == Self.bodyLength)
        for i in 0..<2 {
            let next = try #require(client.get("/next"), "no answer \(i + 2)")
            #expect(String(next.text.prefix(40)) == "fresh", "answer \(i + 2)")
        }
        #expect(server.connections == 2, "the connection with the stray record was reused")
    }

    /// A connection verified under one server line's TLS settings is not used under another's:
    /// after `tls noverify` became `tls ca … sni wrong.test` the pooled connection carried
    /// the next request as if it had been verified under the new rules (the saved session
    /// was dropped, the connection was not). Now it is closed, the new connection verifies,
    /// and the certificate does not name wrong.test: no server can be used, 503.
    @Test func aConnectionMadeUnderOtherTLSSettingsIsNotUsedAfterTheyChange() throws {
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("origin", name: "localhost")
        let server = try StrayRecordTLSServer(certificate: pki.path("origin.pem"), key: pki.path("origin.key"),
                                              first: Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst".utf8), stray: [])
        defer { server.stop() }
        let proxy = try ProxyHarness(routes: Self.routes(to: server, pki).replacingOccurrences(
            of: "tls ca \(pki.path("origin.pem")) sni localhost", with: "tls noverify"))
        defer { proxy.stop() }
        let client = try TestClient(port: proxy.port)
        #expect(client.get("/first")?.text == "first")
        var config = proxy.proxy.table.config
        config.backends[0].servers[0].verify = true
        config.backends[0].servers[0].caPath = pki.path("origin.pem")
        config.backends[0].servers[0].sni = "wrong.test"
        try proxy.proxy.publish(try RouteTable.build(config: config, state: RuntimeState(), generation: 2))
        let next = try #require(client.get("/next"), "no answer")
        #expect(next.status == 503, "\(next.status) \(next.text)")
        // The same settings again (a flip publishes them unchanged): connections stay pooled.
        config.backends[0].servers[0].sni = "localhost"
        try proxy.proxy.publish(try RouteTable.build(config: config, state: RuntimeState(), generation: 3))
        let again = try TestClient(port: proxy.port)
        #expect(again.get("/a")?.text == "fresh")
        let before = server.connections
        try proxy.proxy.publish(try RouteTable.build(config: config, state: RuntimeState(), generation: 4))
        #expect(again.get("/b")?.text == "fresh")
        #expect(server.connections == before, "a publish with the same TLS settings keeps the pooled connection")
    }

    /// The stray record's first bytes arrive while the connection sits idle in the pool: the
    /// proxy reads them, cannot decrypt half a record, and kept the connection as if it had
    /// been sent a ticket. The next request got the stray answer once the rest came (before
    /// the fix, every time). Part of a record now closes an idle connection.
    /// A pooled connection idle past `timeout upstream-keep-alive` is closed, not used: the
    /// server may be closing it (Node and Apache do at 5 s), and a POST written into it
    /// would get a reset and a 502 (it is not replayed). Before, any idle one was reused.
    @Test func aConnectionIdlePastTheUpstreamKeepAliveIsNotReused() throws {
        let h = try ProxyHarness(routes: "timeout upstream-keep-alive 300ms\n" + ProxyHarness.simpleRoutes)
        defer { h.stop() }
        let client = try h.client()
        #expect(client.get("/a")?.status == 200)
        #expect(client.get("/b")?.status == 200)
        #expect(h.legacy.connectionCount == 1, "reused while fresh")
        usleep(700_000)
        #expect(client.get("/c")?.status == 200)
        #expect(h.legacy.connectionCount == 2, "a new connection after 700 ms idle")
        #expect(client.get("/d")?.status == 200)
        #expect(h.legacy.connectionCount == 2, "and that one reused while fresh")
    }

    @Test func partOfARecordArrivingAtAnIdleConnectionClosesIt() throws {
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("origin", name: "localhost")
        let server = try StrayRecordTLSServer(certificate: pki.path("origin.pem"), key: pki.path("origin.key"),
                                              first: Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst".utf8),
                                              stray: Self.stray, strayWhileIdle: true)
        defer { server.stop() }
        let proxy = try ProxyHarness(routes: Self.routes(to: server, pki))
        defer { proxy.stop() }

        let client = try TestClient(port: proxy.port)
        let answer = try #require(client.get("/first"), "no first answer")
        #expect(answer.text == "first")
        // The server sends the stray record's first bytes 150 ms after its answer.
        usleep(400_000)
        let next = try #require(client.get("/next"), "no second answer")
        #expect(String(next.text.prefix(40)) == "fresh", "the second answer")
        #expect(server.connections == 2, "the connection with part of a record was reused")
    }

    /// A plain server's stray bytes wait in the socket, and a connection put back in the pool
    /// while a read is owed to it (the last one filled the buffer) is closed by that read, on
    /// the loop's next turn. A request already waiting must not take the connection before:
    /// here the second of two pipelined requests, handled as soon as the first is answered.
    /// It got the stray answer before the check (and its own was dropped).
    @Test func aPipelinedRequestNeverGetsWhatAPlainServerSentAfterTheLastAnswer() throws {
        let answered = AnswerCount()
        let (server, connections) = try OneThreadServer.counting { fd in
            while !readRequestHead(fd).isEmpty {
                answered.value += 1
                // The first answer and the stray one in one write: they arrive together.
                let bytes = answered.value == 1 ? Self.first + Self.stray : Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh".utf8)
                guard writeAll(fd, bytes) else { return }
            }
        }
        defer { server.stop() }
        let proxy = try ProxyHarness(routes: ProxyHarness.routes(toOriginAt: server.port),
                                     settings: { $0.bufferSize = Self.bufferSize })
        defer { proxy.stop() }

        let client = try TestClient(port: proxy.port)
        client.send("GET /first HTTP/1.1\r\nHost: app\r\n\r\nGET /next HTTP/1.1\r\nHost: app\r\n\r\n")
        let answer = try #require(client.readResponse(), "no first answer")
        #expect(answer.body.count == Self.bodyLength)
        let next = try #require(client.readResponse(), "no second answer")
        #expect(String(next.text.prefix(40)) == "fresh", "the second answer")
        #expect(connections() == 2, "the connection with stray bytes was reused")
    }

    /// A server answers a POST before reading its body (an early 401) and keeps the
    /// connection without draining the body; the proxy goes on sending the body, and it ends
    /// before the answer does. The server then reads that body (here a whole request of its
    /// own) as the next request on the connection: another client's request got its answer
    /// before the fix. An answer that came before the request was all sent now keeps the
    /// connection out of the pool.
    @Test func aConnectionWhoseServerAnsweredBeforeTheBodyWasSentIsNotReused() throws {
        let smuggled = "GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n"
        let answered = AnswerCount()
        let (server, connections) = try OneThreadServer.counting { fd in
            while true {
                let head = readRequestHead(fd)
                if head.isEmpty { return }
                answered.value += 1
                if answered.value == 1 {
                    // Part of the answer at once, the rest once the body is here (left unread).
                    guard writeAll(fd, Array("HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nno".utf8)) else { return }
                    var peek = [UInt8](repeating: 0, count: smuggled.utf8.count)
                    for _ in 0..<500 where recv(fd, &peek, peek.count, Int32(MSG_PEEK | MSG_DONTWAIT)) < peek.count {
                        usleep(10_000)
                    }
                    guard writeAll(fd, Array("pe!".utf8)) else { return }
                    continue
                }
                let target = targetAndLength(ofHead: String(decoding: head, as: UTF8.self)).target
                if target == "/smuggled" {
                    // Answered only once the next request is here (or the proxy closed the
                    // connection): answered at once, the answer would reach the pooled
                    // connection first, and its event would close it, on most runs.
                    var byte: UInt8 = 0
                    for _ in 0..<500 where recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) < 0 { usleep(10_000) }
                }
                let text = "answered \(target)"
                guard writeAll(fd, Array("HTTP/1.1 200 OK\r\nContent-Length: \(text.utf8.count)\r\n\r\n\(text)".utf8)) else { return }
            }
        }
        defer { server.stop() }
        let proxy = try ProxyHarness(routes: ProxyHarness.routes(toOriginAt: server.port))
        defer { proxy.stop() }

        let client = try TestClient(port: proxy.port)
        client.send("POST /form HTTP/1.1\r\nHost: app\r\nContent-Length: \(smuggled.utf8.count)\r\n\r\n")
        usleep(200_000)   // the answer's head reaches the proxy first
        client.send(smuggled)
        let answer = try #require(client.readResponse(), "no answer to the form")
        #expect(answer.status == 401 && answer.text == "nope!")
        let other = try TestClient(port: proxy.port)
        let next = try #require(other.get("/next"), "no answer to the next request")
        #expect(next.text == "answered /next")
        #expect(connections() == 2, "the connection with an unread body was reused")
    }

    /// One route to `server` over verified TLS.
    static func routes(to server: StrayRecordTLSServer, _ pki: TLSConfigurationTests.PKI) -> String {
        """
        backend secure {
            server 127.0.0.1:\(server.port) tls ca \(pki.path("origin.pem")) sni localhost
        }
        route app {
            backend secure
        }
        """
    }

    /// The proxy's buffers in these tests: the first answer fills one exactly.
    static let bufferSize = 4096
    static let firstHead = "HTTP/1.1 200 OK\r\nContent-Length: "
    static let bodyLength = bufferSize - firstHead.utf8.count - "4000\r\n\r\n".utf8.count
    /// `bufferSize` bytes, head and body.
    static let first = Array("\(firstHead)\(bodyLength)\r\n\r\n".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: bodyLength)
    /// What the server sends right after `first`, as if it answered twice.
    static let stray = Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray".utf8)
}

/// Requests a test server answered, across its connections (used on its thread only).
private final class AnswerCount: @unchecked Sendable {
    var value = 0
}

/// A blocking TLS server on 127.0.0.1 port 0, one keep-alive connection at a time. Its very
/// first request gets `first` and then `stray` as a record of its own, both in one socket
/// write; every later request gets "fresh" (5 bytes, with a length). `strayWhileIdle`: the
/// stray record instead follows 150 ms after `first`, only its first 10 bytes; the rest
/// goes out just before the answer to the next request on that connection.
final class StrayRecordTLSServer: @unchecked Sendable {
    private var server: OneThreadServer!
    var port: UInt16 { server.port }
    private let context: TLSServerContext
    private let first: [UInt8]
    private let stray: [UInt8]
    private let strayWhileIdle: Bool
    private let lock = NSLock()
    private var accepted = 0
    /// Connections accepted so far.
    var connections: Int { lock.withLock { accepted } }

    init(certificate: String, key: String, first: [UInt8], stray: [UInt8], strayWhileIdle: Bool = false) throws {
        context = try TLSServerContext(defaultCertificate: TLSCertificateFiles(certificatePath: certificate, keyPath: key),
                                       alpn: ["http/1.1"])
        self.first = first
        self.stray = stray
        self.strayWhileIdle = strayWhileIdle
        server = try OneThreadServer { [self] listener in
            var answered = 0
            while true {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { return }
                lock.withLock { accepted += 1 }
                serve(fd, answered: &answered)
                Glibc.close(fd)
            }
        }
    }

    func stop() { server.stop() }

    private func serve(_ fd: Int32, answered: inout Int) {
        guard let connection = BlockingTLSConnection(fd: fd, context: context) else { return }
        let session = connection.session
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        func write(_ bytes: [UInt8]) -> Bool {
            var offset = 0
            while offset < bytes.count {
                let n = (try? bytes[offset...].withUnsafeBytes { try session.writePlaintext($0) }) ?? 0
                guard n > 0 else { return false }
                offset += n
            }
            return true
        }
        var held: [UInt8] = []
        // One request head at a time (the proxy sends no body here).
        while connection.readHead() != nil {
            answered += 1
            if answered == 1 && strayWhileIdle {
                guard write(first), connection.flush() else { return }
                usleep(150_000)
                guard write(stray) else { return }
                while session.hasCiphertextToSend {
                    let n = scratch.withUnsafeMutableBytes { session.takeCiphertext(into: $0) }
                    held += scratch[0..<n]
                }
                guard writeAll(fd, Array(held.prefix(10))) else { return }
                held.removeFirst(10)
                continue
            }
            if !held.isEmpty {
                guard writeAll(fd, held) else { return }
                held.removeAll()
            }
            // Two records, written into the session before one flush: one socket write.
            let ok = answered == 1 ? write(first) && write(stray)
                                   : write(Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh".utf8))
            guard ok, connection.flush() else { return }
        }
    }
}
