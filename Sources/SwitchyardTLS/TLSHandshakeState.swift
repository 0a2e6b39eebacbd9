/// Where a handshake stands after `TLSSession.handshake()`.
public enum TLSHandshakeState: Sendable, Equatable {
    /// Both sides have finished; application data may flow.
    case complete
    /// Waiting for the peer: send what `takeCiphertext` gives, feed what arrives, call again.
    case needMore
}
