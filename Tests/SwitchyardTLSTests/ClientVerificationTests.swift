import Testing
import SwitchyardTLS

/// The upstream side checks the server's chain and name unless told not to.
@Suite struct ClientVerificationTests {
    let certificates: TestCertificates
    let serverContext: TLSServerContext

    init() throws {
        certificates = try TestCertificates.get()
        serverContext = try TLSServerContext(defaultCertificate: certificates.server)
    }

    @Test(arguments: ["localhost", "a.test", "127.0.0.1"])
    func trustedCertificateWithRightNameIsAccepted(name: String) throws {
        let client = try TLSClientContext(caFile: certificates.caFile)
        let pipe = try TLSPipe(client, serverContext, serverName: name)
        try pipe.handshake()
        #expect(pipe.client.isHandshakeComplete)
    }

    @Test(arguments: ["b.test", "localhost.evil", "127.0.0.2"])
    func wrongHostNameIsRefused(name: String) throws {
        let client = try TLSClientContext(caFile: certificates.caFile)
        let pipe = try TLSPipe(client, serverContext, serverName: name)
        let failure = try #require(throws: TLSPipe.Failure.self) { try pipe.handshake() }
        #expect(failure.side == .client)
        #expect(failure.error.message.contains("certificate verify failed"))
        #expect(failure.error.message.contains(name.first!.isNumber ? "IP address mismatch" : "hostname mismatch"),
                "\(failure.error.message)")
        // The client tells the server why, and the server's handshake fails on that alert.
        pipe.move(.client)
        #expect(throws: TLSError.self) { try pipe.server.handshake() }
    }

    @Test func untrustedCAIsRefused() throws {
        let client = try TLSClientContext(caFile: certificates.otherCAFile)
        let pipe = try TLSPipe(client, serverContext)
        let failure = try #require(throws: TLSPipe.Failure.self) { try pipe.handshake() }
        #expect(failure.side == .client)
        #expect(failure.error.message.contains("certificate verify failed: unable to get local issuer certificate"),
                "\(failure.error.message)")
    }

    @Test func certificateFromAnotherCAIsRefused() throws {
        let foreign = try TLSServerContext(defaultCertificate: certificates.foreignServer)
        let client = try TLSClientContext(caFile: certificates.caFile)
        let pipe = try TLSPipe(client, foreign)
        #expect(throws: TLSPipe.Failure.self) { try pipe.handshake() }
    }

    @Test func systemStoreDoesNotTrustTheTestCA() throws {
        let client = try TLSClientContext()
        let pipe = try TLSPipe(client, serverContext)
        let failure = try #require(throws: TLSPipe.Failure.self) { try pipe.handshake() }
        #expect(failure.error.message.contains("certificate verify failed"))
    }

    @Test func verificationOffAcceptsAnything() throws {
        let client = try TLSClientContext(verify: false)
        let foreign = try TLSServerContext(defaultCertificate: certificates.foreignServer)
        let pipe = try TLSPipe(client, foreign, serverName: "not-the-name.test")
        try pipe.handshake()
        let message = Array("trusting".utf8)
        #expect(try pipe.send(message, from: .client) == message)
    }

    @Test func verifyingWithoutServerNameIsRefused() throws {
        let client = try TLSClientContext(caFile: certificates.caFile)
        #expect(throws: TLSError.self) { try TLSSession(client: client, serverName: "") }
    }

    @Test func missingCAFileIsNamed() {
        let error = #expect(throws: TLSError.self) { try TLSClientContext(caFile: "/nonexistent/ca.pem") }
        #expect(error?.message.contains("/nonexistent/ca.pem") == true)
    }
}
