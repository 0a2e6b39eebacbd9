/// What `TLSSession.readPlaintext(into:)` produced.
public enum TLSReadResult: Sendable, Equatable {
    /// This many decrypted bytes were written to the start of the buffer (always > 0).
    case bytes(Int)
    /// No complete record is buffered: feed more ciphertext (and send any pending).
    case needMore
    /// The peer sent close_notify: no more data will come from it.
    case closed
}
