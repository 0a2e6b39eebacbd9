import Testing
import SwitchyardTLS

/// A server that requires client certificates, and a client that presents one.
@Suite struct MutualTLSTests {
    let certificates: TestCertificates
    let serverContext: TLSServerContext

    init() throws {
        certificates = try TestCertificates.get()
        serverContext = try TLSServerContext(defaultCertificate: certificates.server,
                                             names: ["b.test": certificates.bTest],
                                             clientCertificateCA: certificates.caFile)
    }

    @Test(arguments: ["localhost", "b.test"])
    func clientCertificateIsPresentedAndVerified(name: String) throws {
        let client = try TLSClientContext(caFile: certificates.caFile, clientCertificate: certificates.client)
        let pipe = try TLSPipe(client, serverContext, serverName: name)
        try pipe.handshake()
        #expect(pipe.server.peerCertificateSubject == "CN=switchyard-client")
        let message = Array("authenticated".utf8)
        #expect(try pipe.send(message, from: .client) == message)
    }

    @Test func clientWithoutCertificateIsRefused() throws {
        let client = try TLSClientContext(caFile: certificates.caFile)
        let pipe = try TLSPipe(client, serverContext)
        let failure = try #require(throws: TLSPipe.Failure.self) { try pipe.handshake() }
        #expect(failure.side == .server)
        #expect(failure.error.message.contains("peer did not return a certificate"), "\(failure.error.message)")
    }

    @Test func clientCertificateFromUntrustedCAIsRefused() throws {
        let client = try TLSClientContext(caFile: certificates.caFile, clientCertificate: certificates.foreignServer)
        let pipe = try TLSPipe(client, serverContext)
        let failure = try #require(throws: TLSPipe.Failure.self) { try pipe.handshake() }
        #expect(failure.side == .server)
        #expect(failure.error.message.contains("certificate verify failed"), "\(failure.error.message)")
    }
}
