import Foundation
import Testing
import SwitchyardTestSupport
import SwitchyardProxy
import SwitchyardSystem

/// A new TLS connection to an upstream server resumes the session of the pool's last one
/// instead of a full handshake (not after a reload, which may change what was verified).
/// The server is `openssl s_server -www`, which closes every connection after its answer
/// (so each request is a new connection) and says in the page whether the session was
/// "New" or "Reused".
@Suite struct UpstreamTLSResumptionTests {
    @Test func everyConnectionAfterTheFirstResumesTheSession() throws {
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        let server = try OpenSSLWWWServer(pki)
        defer { server.stop() }
        let originPort = server.port

        let h = try ProxyHarness(routes: """
            backend secure {
                server 127.0.0.1:\(originPort) tls ca \(pki.path("origin.pem")) sni localhost
            }
            route app {
                backend secure
            }
            """)
        defer { h.stop() }
        var sessions: [String] = []
        func request(_ i: Int) throws {
            let client = try h.client()
            client.send("GET /r\(i) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            // s_server's answer has no length: it ends when the connection does.
            let text = String(decoding: client.readToEnd(), as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 200"), "\(text.prefix(200))")
            sessions.append(text.contains("Reused, TLS") ? "Reused" : text.contains("New, TLS") ? "New" : "?")
        }
        for i in 0..<4 { try request(i) }
        #expect(sessions == ["New", "Reused", "Reused", "Reused"], "upstream sessions: \(sessions)")
        // A reload may have changed the server's TLS settings (CA, name): a session verified
        // under the old ones is not resumed.
        try h.proxy.publish(h.proxy.table)
        sessions = []
        for i in 4..<6 { try request(i) }
        #expect(sessions == ["New", "Reused"], "after a reload: \(sessions)")
    }

    /// A port nothing listens on now (bound to port 0, then closed).
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard bound else { throw TestPrecondition("no free port") }
        return UInt16(bigEndian: address.sin_port)
    }
}
