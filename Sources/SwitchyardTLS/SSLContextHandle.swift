import COpenSSL

/// Owns one `SSL_CTX` and frees it when the last Swift reference goes. OpenSSL keeps its own
/// reference from every `SSL` made from the context, so sessions outliving this handle are
/// safe at the C level; Swift callbacks' arguments are kept alive by the Swift owners.
final class SSLContextHandle {
    let pointer: OpaquePointer

    /// A context with the settings every Switchyard context shares: TLS 1.2 … `maximumVersion`,
    /// modern ciphers, no renegotiation, no compression, and writes that may be partial
    /// and resumed from a moved buffer (the memory BIO design needs both).
    init(server: Bool, maximumVersion: TLSVersion = .v1_3) throws(TLSError) {
        guard let pointer = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSError.openSSL("cannot create a TLS context")
        }
        self.pointer = pointer
        guard sy_SSL_CTX_set_min_proto_version(pointer, TLSVersion.v1_2.openSSLValue) == 1,
              sy_SSL_CTX_set_max_proto_version(pointer, maximumVersion.openSSLValue) == 1 else {
            throw TLSError.openSSL("cannot restrict the TLS versions")
        }
        // TLS 1.2 suites: forward-secret (ECDHE) AEAD only. TLS 1.3 suites are all AEAD
        // with forward secrecy already, so OpenSSL's defaults stay.
        guard SSL_CTX_set_cipher_list(pointer, Self.tls12Ciphers) == 1 else {
            throw TLSError.openSSL("cannot set the TLS 1.2 cipher list")
        }
        _ = SSL_CTX_set_options(pointer, SY_SSL_OP_NO_RENEGOTIATION | SY_SSL_OP_NO_COMPRESSION)
        // Partial writes: SSL_write may consume less than offered, which is what back-pressure
        // needs. Moving buffer: a retried write may come from a different address (our
        // caller's buffers are pooled), which OpenSSL otherwise rejects as "bad write retry".
        _ = sy_SSL_CTX_set_mode(pointer, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
    }

    deinit {
        SSL_CTX_free(pointer)
    }

    /// Mozilla's "intermediate" TLS 1.2 list: ECDHE key exchange with AES-GCM or ChaCha20.
    /// Excludes RC4, 3DES, export, NULL, CBC and static-RSA suites by construction.
    static let tls12Ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")
}
