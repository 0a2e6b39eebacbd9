import Foundation
import Testing
import SwitchyardCompare
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardTestSupport

/// A mirror target reached over TLS (the cloud side usually is): the copy is verified and
/// sent like the primary's requests to that server, on the mirror's own connection.
@Suite struct MirrorTLSTests {
    @Test func aCopyGoesToATLSTargetVerified() throws {
        try requireTools("openssl")
        let pki = try TLSConfigurationTests.PKI()
        try pki.selfSigned("site", name: "localhost")
        // B terminates TLS in front of its own "legacy" origin: the mirror target. It trusts
        // A as a forwarder, so A's mark on the copies reaches B's origin.
        let b = try ProxyHarness(routes: TLSConfigurationTests.httpsRoutes(pki, extra: "trust-forwarded 127.0.0.1/32"))
        defer { b.stop() }
        let bPort = try #require(b.proxy.httpsAddresses.first).port
        let a = try ProxyHarness(routes: mirrorRoutes("mirror secure 100%", extra: "mirror noise 0%", backends: """
            backend secure {
                server 127.0.0.1:\(bPort) tls ca \(pki.path("site.pem")) sni localhost
            }
            backend stranger {
                server 127.0.0.1:\(bPort) tls ca \(pki.path("site.pem")) sni wrong.test
            }
            """))
        defer { a.stop() }
        let client = try a.client()
        for i in 0..<3 {
            let answer = try #require(client.get("/notes/\(i)", headers: "X-User: u\r\n"))
            #expect(answer.text.hasPrefix("legacy answered GET /notes/\(i)"))
            let sample = try #require(try a.mirrorSamples(1).first)
            #expect(sample.other.failure == nil && sample.other.status == 200, "\(sample.other)")
            #expect(String(decoding: sample.other.body ?? [], as: UTF8.self).hasPrefix("legacy answered GET /notes/\(i)"),
                    "B's origin answered the copy")
        }
        #expect(b.legacy.requestHeads.count == 3 && b.legacy.requestHeads.allSatisfy { $0.contains("X-Switchyard-Mirror: 1") })

        // A name the certificate does not carry: the copy fails its connect, the user is answered.
        var state = a.proxy.table.state
        state.routes["app"] = .init(mirror: .init(backend: "stranger", basisPoints: 10_000))
        try a.proxy.publish(try RouteTable.build(config: a.proxy.table.config, state: state, generation: 2))
        #expect(client.get("/later", headers: "X-User: u\r\n")?.status == 200)
        let failed = try #require(try a.mirrorSamples(1).first)
        #expect(failed.other.failure == .connect)
        #expect(b.legacy.requestCount == 3)
    }
}
