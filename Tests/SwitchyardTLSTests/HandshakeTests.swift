import Testing
import SwitchyardTLS

/// A client and a server session talking through memory: handshake, versions, data both
/// ways, feeding split anyhow, and closing.
@Suite struct HandshakeTests {
    let certificates: TestCertificates
    let serverContext: TLSServerContext
    let clientContext: TLSClientContext

    init() throws {
        certificates = try TestCertificates.get()
        serverContext = try TLSServerContext(defaultCertificate: certificates.server)
        clientContext = try TLSClientContext(caFile: certificates.caFile)
    }

    @Test func handshakeCompletesWithTLS13() throws {
        let pipe = try TLSPipe(clientContext, serverContext)
        #expect(!pipe.client.isHandshakeComplete)
        try pipe.handshake()
        #expect(pipe.client.isHandshakeComplete && pipe.server.isHandshakeComplete)
        #expect(pipe.client.protocolVersion == "TLSv1.3")
        #expect(pipe.server.protocolVersion == "TLSv1.3")
        #expect(pipe.server.serverName == "localhost")
        #expect(pipe.client.peerCertificateSubject == "CN=localhost")
        #expect(pipe.server.peerCertificateSubject == nil)
        #expect(try pipe.client.handshake() == .complete, "handshake() after completion keeps answering .complete")
    }

    @Test func clientCappedAtTLS12NegotiatesTLS12() throws {
        let tls12 = try TLSClientContext(caFile: certificates.caFile, maximumVersion: .v1_2)
        let pipe = try TLSPipe(tls12, serverContext)
        try pipe.handshake()
        #expect(pipe.client.protocolVersion == "TLSv1.2")
        #expect(pipe.server.protocolVersion == "TLSv1.2")
        #expect(try pipe.send(Array("ping".utf8), from: .client) == Array("ping".utf8))
        #expect(try pipe.send(Array("pong".utf8), from: .server) == Array("pong".utf8))
    }

    @Test func smallMessagesFlowBothWays() throws {
        let pipe = try TLSPipe(clientContext, serverContext)
        try pipe.handshake()
        let request = Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        #expect(try pipe.send(request, from: .client) == request)
        let response = Array("HTTP/1.1 204 No Content\r\n\r\n".utf8)
        #expect(try pipe.send(response, from: .server) == response)
    }

    @Test(arguments: [TLSVersion.v1_3, .v1_2])
    func oneMebibyteFlowsBothWays(version: TLSVersion) throws {
        let client = try TLSClientContext(caFile: certificates.caFile, maximumVersion: version)
        let pipe = try TLSPipe(client, serverContext)
        try pipe.handshake()
        var generator = SystemRandomNumberGenerator()
        let upload = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(try pipe.send(upload, from: .client) == upload)
        let download = upload.reversed() as [UInt8]
        #expect(try pipe.send(download, from: .server) == download)
    }

    @Test func handshakeAndDataFedByteByByte() throws {
        let pipe = try TLSPipe(clientContext, serverContext, chunkSize: 1)
        try pipe.handshake()
        #expect(pipe.client.protocolVersion == "TLSv1.3")
        let message = Array("one byte at a time".utf8)
        #expect(try pipe.send(message, from: .client) == message)
        #expect(try pipe.send(message, from: .server) == message)
    }

    @Test func handshakeFedInOddSizedChunks() throws {
        for chunk in [2, 7, 100, 517, 1500] {
            let pipe = try TLSPipe(clientContext, serverContext, chunkSize: chunk)
            try pipe.handshake()
            let message = Array(repeating: UInt8(ascii: "x"), count: 40_000)
            #expect(try pipe.send(message, from: .server) == message, "chunk size \(chunk)")
        }
    }

    @Test func shutdownDeliversCloseNotify() throws {
        let pipe = try TLSPipe(clientContext, serverContext)
        try pipe.handshake()
        pipe.server.shutdown()
        #expect(pipe.server.hasCiphertextToSend)
        pipe.move(.server)
        var buffer = [UInt8](repeating: 0, count: 1024)
        #expect(try buffer.withUnsafeMutableBytes { try pipe.client.readPlaintext(into: $0) } == .closed)
    }

    @Test func readBeforeAnythingArrivesNeedsMore() throws {
        let pipe = try TLSPipe(clientContext, serverContext)
        try pipe.handshake()
        var buffer = [UInt8](repeating: 0, count: 1024)
        #expect(try buffer.withUnsafeMutableBytes { try pipe.server.readPlaintext(into: $0) } == .needMore)
    }

    @Test func writeAppliesBackPressureWhenCiphertextIsNotTaken() throws {
        let pipe = try TLSPipe(clientContext, serverContext)
        try pipe.handshake()
        let big = [UInt8](repeating: 0x41, count: 1 << 20)
        let first = try big.withUnsafeBytes { try pipe.client.writePlaintext($0) }
        #expect(first >= TLSSession.pendingCiphertextLimit - 17 * 1024 && first <= TLSSession.pendingCiphertextLimit)
        let second = try big.withUnsafeBytes { try pipe.client.writePlaintext(UnsafeRawBufferPointer(rebasing: $0[first...])) }
        #expect(second == 0, "nothing more is consumed until the ciphertext is taken")
        pipe.move(.client)
        let third = try big.withUnsafeBytes { try pipe.client.writePlaintext(UnsafeRawBufferPointer(rebasing: $0[first...])) }
        #expect(third > 0, "taking the ciphertext makes room again")
    }

    @Test func feedAppliesBackPressureWhenNothingIsRead() throws {
        let server = try TLSSession(server: serverContext)
        let lots = [UInt8](repeating: 0x16, count: 200_000)
        let accepted = lots.withUnsafeBytes { server.feedCiphertext($0) }
        #expect(accepted == TLSSession.pendingCiphertextLimit)
        #expect(lots.withUnsafeBytes { server.feedCiphertext($0) } == 0)
    }
}
