import Testing
@testable import SwitchyardTLS

/// The server picks the first of its own protocols that the client offers.
@Suite struct ALPNTests {
    let certificates: TestCertificates

    init() throws {
        certificates = try TestCertificates.get()
    }

    private func negotiate(client: [String], server: [String]) throws -> (String?, String?) {
        let serverContext = try TLSServerContext(defaultCertificate: certificates.server, alpn: server)
        let clientContext = try TLSClientContext(caFile: certificates.caFile, alpn: client)
        let pipe = try TLSPipe(clientContext, serverContext)
        try pipe.handshake()
        return (pipe.client.negotiatedALPN, pipe.server.negotiatedALPN)
    }

    @Test func clientOfferingH2AndHTTP11GetsH2() throws {
        let (client, server) = try negotiate(client: ["h2", "http/1.1"], server: ["h2", "http/1.1"])
        #expect(client == "h2" && server == "h2")
    }

    @Test func serverPreferenceWinsOverClientOrder() throws {
        let (client, _) = try negotiate(client: ["http/1.1", "h2"], server: ["h2", "http/1.1"])
        #expect(client == "h2")
    }

    @Test func clientOfferingOnlyHTTP11GetsHTTP11() throws {
        let (client, server) = try negotiate(client: ["http/1.1"], server: ["h2", "http/1.1"])
        #expect(client == "http/1.1" && server == "http/1.1")
    }

    @Test func noCommonProtocolFallsBackToHTTP11WhenOffered() throws {
        let (client, _) = try negotiate(client: ["spdy/3", "http/1.1"], server: ["h2"])
        #expect(client == "http/1.1")
    }

    @Test func noCommonProtocolAndNoHTTP11MeansNoALPN() throws {
        let (client, server) = try negotiate(client: ["spdy/3"], server: ["h2", "http/1.1"])
        #expect(client == nil && server == nil)
    }

    @Test func clientWithoutALPNGetsNone() throws {
        let (client, server) = try negotiate(client: [], server: ["h2", "http/1.1"])
        #expect(client == nil && server == nil)
    }

    @Test func malformedOfferIsNotReadPastItsEnd() throws {
        let ours = try ALPNProtocols(["h2"])
        let truncated: [UInt8] = [8, 0x68, 0x74]  // claims 8 bytes, has 2
        #expect(truncated.withUnsafeBufferPointer { ours.select(from: $0) } == nil)
        let valid: [UInt8] = [2, 0x68, 0x32]
        #expect(valid.withUnsafeBufferPointer { ours.select(from: $0) } == 1..<3)
    }

    @Test func overlongProtocolNameIsRefused() {
        #expect(throws: TLSError.self) { try ALPNProtocols([String(repeating: "x", count: 256)]) }
        #expect(throws: TLSError.self) { try ALPNProtocols([""]) }
    }
}
