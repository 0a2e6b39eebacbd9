import SwitchyardSystem
import SwitchyardTLS

/// The TLS side of a client connection: ciphertext moves between the socket and the
/// session's memory BIOs; the connection above it sees plaintext only. Non-blocking: the
/// handshake advances as bytes arrive, and ciphertext that the socket would not take
/// waits in `pendingOut`.
final class TLSTransport {
    let session: TLSSession
    private var pendingOut: IOBuffer?
    /// Strong: the pool never refers back, and a checked `unowned` read costs a strong
    /// retain and release at every use.
    private let pool: BufferPool

    init(session: TLSSession, pool: BufferPool) {
        self.session = session
        self.pool = pool
    }

    enum SocketRead { case fed, endOfStream, wouldBlock, full }

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
            return .fed
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
    func encrypt(_ bytes: UnsafeRawBufferPointer) throws(TLSError) -> Int {
        guard session.isHandshakeComplete else { return 0 }
        return try session.writePlaintext(bytes)
    }

    /// Writes pending ciphertext to the socket. True when nothing is left to write.
    func flush(_ fd: FileDescriptor) throws(Errno) -> Bool {
        // The buffer is moved out of `pendingOut` and back, never copied (a copy out of the
        // property is an atomic retain and release).
        guard let out = pendingOut.take() ?? (session.hasCiphertextToSend ? pool.take() : nil) else { return true }
        while true {
            if out.isEmpty {
                let n = session.takeCiphertext(into: out.writable)
                if n == 0 {
                    pool.give(out)
                    return true
                }
                out.commit(n)
            }
            let sent: IOResult<Int>
            do { sent = try fd.send(out.readable) } catch {
                pendingOut = consume out
                throw error
            }
            switch sent {
            case .processed(let n):
                out.consume(n)
            case .wouldBlock:
                pendingOut = consume out
                return false
            }
        }
    }

    var hasPendingOutput: Bool { pendingOut.map { !$0.isEmpty } ?? false || session.hasCiphertextToSend }

    /// Queues close_notify (sent by the next `flush`).
    func shutdown() { session.shutdown() }

    func release() {
        if let out = pendingOut {
            pool.give(out)
            pendingOut = nil
        }
    }
}
