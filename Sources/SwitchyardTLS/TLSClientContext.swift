import COpenSSL

/// The upstream (proxy → backend server) TLS configuration of one backend.
///
/// With `verify` on (the default), the server's chain must lead to a CA in `caFile`, or in
/// the system store when `caFile` is nil, and its certificate must name the `serverName`
/// each `TLSSession` is made with. `clientCertificate` is presented when the server asks
/// (mutual TLS). ALPN offers `alpn` (default "http/1.1": the upstream side speaks HTTP/1.1).
///
/// Immutable after `init`; shared by every worker thread.
public final class TLSClientContext: @unchecked Sendable {
    let context: SSLContextHandle
    /// Whether sessions check the server's certificate and name.
    let verify: Bool

    /// - Parameter maximumVersion: the highest version offered (tests and old backends);
    ///   TLS 1.2 is always the lowest.
    /// - Throws: `TLSError` naming the file when the CA file or client certificate cannot be
    ///   loaded, or when the system store cannot be found.
    public init(caFile: String? = nil,
                verify: Bool = true,
                clientCertificate: TLSCertificateFiles? = nil,
                alpn: [String] = ["http/1.1"],
                maximumVersion: TLSVersion = .v1_3) throws(TLSError) {
        let context = try SSLContextHandle(server: false, maximumVersion: maximumVersion)
        if verify {
            if let caFile {
                guard SSL_CTX_load_verify_locations(context.pointer, caFile, nil) == 1 else {
                    throw TLSError.openSSL("cannot load CA file \(caFile)")
                }
            } else {
                guard SSL_CTX_set_default_verify_paths(context.pointer) == 1 else {
                    throw TLSError.openSSL("cannot load the system's trusted CA certificates")
                }
            }
            SSL_CTX_set_verify(context.pointer, SSL_VERIFY_PEER, nil)
        } else {
            SSL_CTX_set_verify(context.pointer, SSL_VERIFY_NONE, nil)
        }
        if let clientCertificate {
            try CertificateLoader.load(clientCertificate, into: context.pointer)
        }
        let protocols = try ALPNProtocols(alpn)
        if !protocols.wire.isEmpty {
            // Note the inverted convention: this call returns 0 on success.
            guard SSL_CTX_set_alpn_protos(context.pointer, protocols.wire, UInt32(protocols.wire.count)) == 0 else {
                throw TLSError.openSSL("cannot set ALPN protocols \(alpn)")
            }
        }
        // Sessions are handed out through `TLSSession.resumableSession`; OpenSSL's own client
        // cache is not used (it has no lookup on the client side).
        _ = sy_SSL_CTX_set_session_cache_mode(context.pointer, Int(SSL_SESS_CACHE_OFF))
        self.context = context
        self.verify = verify
    }
}
