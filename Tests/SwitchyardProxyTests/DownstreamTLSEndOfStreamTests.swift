import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy
import SwitchyardSystem
import SwitchyardTLS

/// The client side of `UpstreamTLSEndOfStreamTests`: a TLS client sends its requests and
/// half-closes its socket (no close_notify), then reads the answers. The proxy can read the
/// socket's end while records it had no room to decrypt yet still wait in the session —
/// pipelined requests beyond a buffer, a body's tail that came while the proxy was still
/// connecting upstream. Those are requests the client sent; before, the socket's end ended
/// the input at once and they were lost: the pipelined ones were never answered, a form
/// post arrived cut short and was aborted.
@Suite struct DownstreamTLSEndOfStreamTests {
    /// 120 pipelined GETs of about 1,100 bytes each (132 KB: more than the 64 KiB buffer and
    /// the 64 KiB the session takes in), then the half-close: every one is answered. The
    /// server closes after each answer, so each request waits for a new upstream connection
    /// with the buffer full and the next requests in the session — when the socket's end is
    /// read. Before, 60-odd of the 120 were answered.
    @Test func pipelinedRequestsBeforeAHalfCloseAreAllAnswered() throws {
        let origin = try ClosingOrigin.start()
        defer { origin.stop() }
        let setup = try Setup(server: "127.0.0.1:\(origin.port)")
        defer { setup.stop() }
        let count = 120
        let padding = String(repeating: "p", count: 1_000)
        var requests = ""
        for i in 0..<count { requests += "GET /item/\(i) HTTP/1.1\r\nHost: app\r\nX-Pad: \(padding)\r\n\r\n" }
        for attempt in 0..<2 {
            let client = try HalfClosingTLSClient(port: setup.port, caFile: setup.certificate.cert)
            try client.send(Array(requests.utf8))
            client.shutdownWrite()
            let text = String(decoding: try client.readToEnd(), as: UTF8.self)
            let answered = text.components(separatedBy: "HTTP/1.1 200 OK\r\n").count - 1
            #expect(answered == count, "attempt \(attempt): \(answered) of \(count) pipelined requests answered")
            let last = text.hasSuffix("answered /item/\(count - 1)\n")   // a Bool: the text would fill the log
            #expect(last, "attempt \(attempt): the last request was answered last")
        }
    }

    /// A form post of 100,000 bytes pipelined behind 20 GETs, then the half-close: when the
    /// post's head is taken (the GETs leave time for all of it to arrive), its body fills the
    /// buffer and the session, and the proxy waits for a new upstream connection. Before, the socket's end read then cut the body short:
    /// the server never got it whole and the post was aborted.
    @Test func aFormPostBehindGetsArrivesWholeAfterAHalfClose() throws {
        let origin = try ClosingOrigin.start()
        defer { origin.stop() }
        let setup = try Setup(server: "127.0.0.1:\(origin.port)")
        defer { setup.stop() }
        let size = 100_000
        let gets = (0..<20).map { "GET /first/\($0) HTTP/1.1\r\nHost: app\r\n\r\n" }.joined()
        let requests = Array((gets + "POST /form HTTP/1.1\r\nHost: app\r\nContent-Length: \(size)\r\n\r\n").utf8)
            + [UInt8](repeating: UInt8(ascii: "f"), count: size)
        for attempt in 0..<3 {
            let client = try HalfClosingTLSClient(port: setup.port, caFile: setup.certificate.cert)
            try client.send(requests)
            client.shutdownWrite()
            let text = String(decoding: try client.readToEnd(), as: UTF8.self)
            let gotTheGets = text.contains("answered /first/19\n")   // Bools: the text would fill the log
            let gotThePost = text.hasSuffix("answered /form with \(size) bytes\n")
            #expect(gotTheGets, "attempt \(attempt): \(text.prefix(200))")
            #expect(gotThePost, "attempt \(attempt): \(text.suffix(200))")
        }
    }

    // MARK: support

    /// A throwaway certificate and a proxy with one `listen https` listener routed to
    /// `server` (the harness's legacy origin by default).
    struct Setup {
        let certificate: TLSTerminationTests.Certificate
        let harness: ProxyHarness
        let port: UInt16

        init(server: String = "127.0.0.1:LEGACY") throws {
            try requireTools("openssl")
            certificate = try TLSTerminationTests.Certificate()
            harness = try ProxyHarness(routes: """
                listen https 127.0.0.1:0 cert \(certificate.cert) key \(certificate.key)
                backend legacy {
                    server \(server)
                }
                route app {
                    backend legacy
                }
                """)
            port = try #require(harness.proxy.httpsAddresses.first).port
        }

        func stop() { harness.stop() }
    }
}

/// A plain HTTP/1.1 server that reads one request (a `Content-Length` body too) and
/// answers "answered TARGET" (and "with N bytes" for a body) with `Connection: close`, then
/// closes: every request needs a new connection. One connection at a time, on its own thread.
enum ClosingOrigin {
    static func start() throws -> OneThreadServer { try OneThreadServer(serve: serve) }

    private static func serve(_ listener: Int32) {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 16 << 10)
            func more() -> Bool {
                let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n > 0 { received += chunk[0..<n] }
                return n > 0
            }
            while !String(decoding: received, as: UTF8.self).contains("\r\n\r\n"), more() {}
            let text = String(decoding: received, as: UTF8.self)
            let head = text.components(separatedBy: "\r\n\r\n")[0]
            let (target, length) = targetAndLength(ofHead: head)
            var body = "answered \(target)\n"
            if let length {
                let headBytes = head.utf8.count + 4
                while received.count - headBytes < length, more() {}
                body = "answered \(target) with \(received.count - headBytes) bytes\n"
            }
            _ = writeAll(fd, Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8))
            Glibc.close(fd)
        }
    }
}

/// A blocking TLS client on the proxy's own `TLSSession`, over a `TestClient`'s socket (its
/// timeouts included): it can end its sending side with a plain `shutdown(SHUT_WR)`, no
/// close_notify, and still read the answers — what a client that half-closes does.
final class HalfClosingTLSClient {
    struct Failure: Error, CustomStringConvertible { let description: String }

    private let socket: TestClient
    private let session: TLSSession
    private var scratch = [UInt8](repeating: 0, count: 64 << 10)

    init(port: UInt16, caFile: String) throws {
        socket = try TestClient(port: port, timeoutSeconds: 20)
        session = try TLSSession(client: TLSClientContext(caFile: caFile), serverName: "localhost")
        while try session.handshake() != .complete {
            try flush()
            guard try feed() else { throw Failure(description: "the proxy closed during the handshake") }
        }
        try flush()
    }

    /// Encrypts and sends all of `bytes` (blocking while the proxy does not read).
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = try bytes[offset...].withUnsafeBytes { try session.writePlaintext($0) }
            offset += n
            try flush()
        }
    }

    func shutdownWrite() { socket.shutdownWrite() }

    /// Decrypted bytes until the proxy ends the stream (close_notify or the socket's end).
    func readToEnd() throws -> [UInt8] {
        var received: [UInt8] = []
        while true {
            switch try scratch.withUnsafeMutableBytes({ try session.readPlaintext(into: $0) }) {
            case .bytes(let n): received += scratch[0..<n]
            case .closed: return received
            case .needMore:
                guard try feed() else { return received }
            }
        }
    }

    private func flush() throws {
        while session.hasCiphertextToSend {
            let n = scratch.withUnsafeMutableBytes { session.takeCiphertext(into: $0) }
            guard writeAll(socket.fd, Array(scratch[0..<n])) else { throw Failure(description: "sending to the proxy failed") }
        }
    }

    /// One socket read (16 KiB at most: the session takes 64 KiB, and may still hold an
    /// incomplete record) fed to the session; false at the end of the stream.
    private func feed() throws -> Bool {
        let n = scratch.withUnsafeMutableBytes { Glibc.read(socket.fd, $0.baseAddress, 16 << 10) }
        guard n > 0 else {
            if n < 0 && errno != ECONNRESET { throw Failure(description: "reading from the proxy failed: errno \(errno)") }
            return false
        }
        let taken = scratch.withUnsafeBytes { session.feedCiphertext(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        guard taken == n else { throw Failure(description: "the session took \(taken) of \(n) bytes") }
        return true
    }
}
