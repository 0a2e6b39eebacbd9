import SwitchyardSystem
import SwitchyardTLS

/// The TLS side of a client connection: ciphertext moves between the socket and the
/// session; the connection above it sees plaintext only. Non-blocking: the handshake
/// advances as bytes arrive, and ciphertext that the socket would not take waits in the
/// session, where OpenSSL wrote it (`TLSSession.ciphertextToSend`), bounded by
/// `TLSSession.pendingCiphertextLimit`.
final class TLSTransport {
    let session: TLSSession

    init(session: TLSSession) {
        self.session = session
    }

    /// `.filled`: fed, and the read took all the room it had, so more may be queued in
    /// the socket.
    enum SocketRead { case fed, filled, endOfStream, wouldBlock, full }

    /// One read of ciphertext from the socket into the session, never more than the session
    /// can take (`.full`: decrypt first — the socket keeps the rest, which is back-pressure).
    func readSocket(_ fd: FileDescriptor, scratch: UnsafeMutableRawBufferPointer) throws(Errno) -> SocketRead {
        let room = min(scratch.count, session.ciphertextRoom)
        guard room > 0 else { return .full }
        switch try fd.receive(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<room])) {
        case .processed(0):
            return .endOfStream
        case .processed(let n):
            let accepted = session.feedCiphertext(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            // Cannot fail: we read no more than the room the session reported.
            assert(accepted == n)
            return n == room ? .filled : .fed
        case .wouldBlock:
            return .wouldBlock
        }
    }

    /// Decrypts into `buffer`, driving the handshake first.
    func decrypt(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSReadResult {
        if !session.isHandshakeComplete {
            if try session.handshake() == .needMore { return .needMore }
        }
        return try session.readPlaintext(into: buffer)
    }

    /// Encrypts as much of `bytes` as the session takes; returns the plaintext consumed.
    /// Full records go straight to `fd` when the socket takes them (no copy into the
    /// session's sink); call `flush` after, as always, for the rest.
    func encrypt(_ bytes: UnsafeRawBufferPointer, sendingTo fd: FileDescriptor) throws(TLSError) -> Int {
        guard session.isHandshakeComplete else { return 0 }
        return try session.writePlaintext(bytes, sendingTo: fd.rawValue)
    }

    /// Writes pending ciphertext to the socket, straight from the session (no copy into a
    /// buffer of ours first). True when nothing is left to write.
    func flush(_ fd: FileDescriptor) throws(Errno) -> Bool {
        while true {
            let waiting = session.ciphertextToSend
            if waiting.isEmpty { return true }
            switch try fd.send(waiting) {
            case .processed(let n):
                session.ciphertextSent(n)
            case .wouldBlock:
                return false
            }
        }
    }

    var hasPendingOutput: Bool { session.hasCiphertextToSend }

    /// Records from the peer still in the session (`readSocket` took them, nothing
    /// decrypted them yet, or not all of it was taken).
    var hasUnreadInput: Bool { session.hasUnreadInput }

    /// Queues close_notify (sent by the next `flush`).
    func shutdown() { session.shutdown() }
}
