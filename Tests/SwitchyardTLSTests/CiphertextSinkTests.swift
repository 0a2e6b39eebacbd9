import Testing
import SwitchyardTLS

/// The ciphertext a session writes waits in its sink (`CSwitchyardCiphertextSink`) and is
/// sent from where it lies: `ciphertextToSend`, then `ciphertextSent` for what went.
@Suite struct CiphertextSinkTests {
    let serverContext: TLSServerContext
    let clientContext: TLSClientContext

    init() throws {
        let certificates = try TestCertificates.get()
        serverContext = try TLSServerContext(defaultCertificate: certificates.server)
        clientContext = try TLSClientContext(caFile: certificates.caFile)
    }

    /// 300,000 bytes from the server, its ciphertext taken in uneven pieces (as a socket
    /// takes part of a send) while more is written: the client reads every byte in order.
    /// Writing stops at the session's limit while nothing is sent, and resumes as it drains.
    @Test func ciphertextSentInPiecesArrivesWholeAndInOrder() throws {
        let pipe = try TLSPipe(clientContext, serverContext)
        try pipe.handshake()
        let plaintext = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }

        // Nothing sent yet: the server takes plaintext up to the limit, then no more.
        let first = try plaintext.withUnsafeBytes { try pipe.server.writePlaintext($0) }
        let waiting = pipe.server.ciphertextToSend.count
        #expect(first > 0 && first < plaintext.count, "the write stopped short of 300,000 bytes (took \(first))")
        #expect(waiting >= TLSSession.pendingCiphertextLimit && waiting <= TLSSession.pendingCiphertextLimit + 17 * 1024,
                "\(waiting) bytes of ciphertext wait: the limit and at most one record more")
        #expect(try plaintext.withUnsafeBytes { try pipe.server.writePlaintext(UnsafeRawBufferPointer(rebasing: $0[first...])) } == 0,
                "a full sink takes no more plaintext")

        var offset = first
        var received: [UInt8] = []
        let pieces = [1, 700, 4_096, 13, 16_411, 65_536, 9]
        var piece = 0
        var rounds = 0
        while received.count < plaintext.count && rounds < 100_000 {
            rounds += 1
            // Send one uneven piece of what waits, straight from the sink.
            let bytes = pipe.server.ciphertextToSend
            if !bytes.isEmpty {
                let count = min(bytes.count, pieces[piece % pieces.count])
                piece += 1
                let accepted = pipe.client.feedCiphertext(UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
                pipe.server.ciphertextSent(accepted)
            }
            if offset < plaintext.count {
                offset += try plaintext.withUnsafeBytes { try pipe.server.writePlaintext(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            }
            guard try pipe.client.drainPlaintext(into: &received) else { Issue.record("the server closed"); return }
        }
        #expect(received.count == plaintext.count)
        #expect(received == plaintext, "every byte arrived, in order")
        #expect(pipe.server.ciphertextToSend.isEmpty && !pipe.server.hasCiphertextToSend)
    }

    /// `takeCiphertext` copies out of the same sink: what it gives is what
    /// `ciphertextToSend` showed, and it is gone from the sink after.
    @Test func takeCiphertextCopiesWhatWaitsAndRemovesIt() throws {
        let pipe = try TLSPipe(clientContext, serverContext)
        try pipe.handshake()
        _ = try Array("hello".utf8).withUnsafeBytes { try pipe.client.writePlaintext($0) }
        let shown = Array(pipe.client.ciphertextToSend)
        #expect(!shown.isEmpty)
        var copy = [UInt8](repeating: 0, count: shown.count + 100)
        let count = copy.withUnsafeMutableBytes { pipe.client.takeCiphertext(into: $0) }
        #expect(count == shown.count)
        #expect(Array(copy[0..<count]) == shown)
        #expect(pipe.client.ciphertextToSend.isEmpty)
        #expect(shown.withUnsafeBytes { pipe.server.feedCiphertext($0) } == shown.count)
        var buffer = [UInt8](repeating: 0, count: 64)
        let read = try buffer.withUnsafeMutableBytes { try pipe.server.readPlaintext(into: $0) }
        #expect(read == .bytes(5))
        #expect(Array(buffer[0..<5]) == Array("hello".utf8))
    }
}
