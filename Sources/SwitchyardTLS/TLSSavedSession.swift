import COpenSSL

/// A TLS session an upstream connection may resume, saving a full handshake.
///
/// Get one from `TLSSession.resumableSession` once a connection has received data (TLS 1.3
/// delivers tickets after the handshake), and pass it to the next
/// `TLSSession(client:serverName:resuming:)` to the same server with the same context.
/// OpenSSL reference-counts the session and never changes it once handed out, so one value
/// may be shared across threads.
public final class TLSSavedSession: @unchecked Sendable {
    let pointer: OpaquePointer

    /// Takes over one reference to `pointer`.
    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        SSL_SESSION_free(pointer)
    }
}
