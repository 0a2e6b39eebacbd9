import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardProxy
import SwitchyardTLS

/// A tunnel (after 101) to a `tls` server: the client's half-close reaches the server only
/// after every byte the client sent, as a close_notify, and the server's answer to the whole
/// upload comes back. The shutdown used to wait for `toUpstream` alone, while ciphertext
/// could still sit in the TLS session (a flush the socket refused): shut with it unsent, the
/// next flush met EPIPE and the tunnel was cut. This test did not catch that race on this
/// machine (loopback buffers are large); it guards the half-close path itself.
@Suite struct TunnelTLSHalfCloseTests {
    @Test func aClientsHalfCloseReachesATLSServerAfterEveryByteItSent() throws {
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("origin", name: "localhost")
        let context = try TLSServerContext(defaultCertificate: TLSCertificateFiles(certificatePath: pki.path("origin.pem"),
                                                                                   keyPath: pki.path("origin.key")),
                                           alpn: ["http/1.1"])
        let (origin, _) = try OneThreadServer.counting { fd in
            guard let connection = BlockingTLSConnection(fd: fd, context: context), connection.readHead() != nil else { return }
            let session = connection.session
            let head = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: count\r\nConnection: Upgrade\r\n\r\n".utf8)
            _ = try? head.withUnsafeBytes { try session.writePlaintext($0) }
            guard connection.flush() else { return }
            usleep(300_000)   // a slow reader: the proxy's writes back up meanwhile
            // Counts the tunnel's bytes up to the client's end (close_notify, or the socket's).
            var count = 0
            var scratch = [UInt8](repeating: 0, count: 64 << 10)
            reading: while true {
                switch try? scratch.withUnsafeMutableBytes({ try session.readPlaintext(into: $0) }) {
                case .bytes(let n)?: count += n
                case .needMore?:
                    usleep(2_000)   // and slow all along: the proxy's socket to us stays full
                    guard connection.flush(), connection.feed() else { break reading }
                default: break reading
                }
            }
            let answer = Array("\(count)".utf8)
            _ = try? answer.withUnsafeBytes { try session.writePlaintext($0) }
            session.shutdown()
            _ = connection.flush()
        }
        defer { origin.stop() }
        let h = try ProxyHarness(routes: """
            backend secure {
                server 127.0.0.1:\(origin.port) tls ca \(pki.path("origin.pem")) sni localhost
            }
            route app {
                backend secure
            }
            """)
        defer { h.stop() }
        let client = try TestClient(port: h.port)
        client.send("GET /count HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: count\r\n\r\n")
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)), read(client.fd, &byte, 1) == 1 { head.append(byte) }
        #expect(String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101"))
        let upload = 8 << 20
        #expect(writeAll(client.fd, [UInt8](repeating: UInt8(ascii: "u"), count: upload)))
        shutdown(client.fd, Int32(SHUT_WR))
        let answer = String(decoding: client.readToEnd(), as: UTF8.self)
        #expect(answer == "\(upload)", "the server counted \(answer.isEmpty ? "nothing (the tunnel was cut)" : answer) of \(upload) bytes")
    }
}
