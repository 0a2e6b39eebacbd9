import Testing
import SwitchyardTLS

/// Bytes from the network that are not TLS end the handshake with an error, never a crash.
@Suite struct MalformedInputTests {
    let serverContext: TLSServerContext

    init() throws {
        serverContext = try TLSServerContext(defaultCertificate: try TestCertificates.get().server)
    }

    @Test func plainHTTPInsteadOfClientHelloFailsAtOnce() throws {
        let server = try TLSSession(server: serverContext)
        let request = Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        #expect(request.withUnsafeBytes { server.feedCiphertext($0) } == request.count)
        let error = #expect(throws: TLSError.self) { try server.handshake() }
        #expect(error?.message.contains("TLS handshake failed") == true)
    }

    @Test func randomBytesFailWithinOneRecordHeader() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let server = try TLSSession(server: serverContext)
            var garbage = (0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) }
            garbage[0] = 0x47  // not a handshake record type
            // Not a TLS major version either: with a random 0x03 here OpenSSL would see a
            // plausible record header and rightly wait for the rest of the record.
            garbage[1] = 0x47
            _ = garbage.withUnsafeBytes { server.feedCiphertext($0) }
            #expect(throws: TLSError.self) { try server.handshake() }
        }
    }

    @Test func truncatedClientHelloWaitsForMore() throws {
        let server = try TLSSession(server: serverContext)
        let partial: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01]  // record header, 1 byte of body
        _ = partial.withUnsafeBytes { server.feedCiphertext($0) }
        #expect(try server.handshake() == .needMore)
    }

    @Test func corruptedRecordAfterHandshakeFailsTheRead() throws {
        let certificates = try TestCertificates.get()
        let pipe = try TLSPipe(try TLSClientContext(caFile: certificates.caFile), serverContext)
        try pipe.handshake()
        let message = Array("tamper with me".utf8)
        _ = try message.withUnsafeBytes { try pipe.client.writePlaintext($0) }
        var ciphertext = [UInt8](repeating: 0, count: 4096)
        let count = ciphertext.withUnsafeMutableBytes { pipe.client.takeCiphertext(into: $0) }
        ciphertext[count - 1] ^= 0x01  // flips a bit of the AEAD tag
        _ = ciphertext.withUnsafeBytes { pipe.server.feedCiphertext(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        #expect(throws: TLSError.self) { try buffer.withUnsafeMutableBytes { try pipe.server.readPlaintext(into: $0) } }
    }
}
