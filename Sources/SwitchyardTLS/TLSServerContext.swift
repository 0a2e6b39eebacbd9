import COpenSSL

/// The downstream (client-facing) TLS configuration of one listener: certificates chosen by
/// SNI, ALPN preference, and optionally a required client certificate.
///
/// Holds one OpenSSL context per distinct certificate. `names` maps SNI host names
/// (case-insensitive; exact, or `"*.example.com"` for one leftmost label) to a certificate;
/// `defaultCertificate` answers unknown names and clients that send no SNI.
///
/// Policy: TLS 1.2 and 1.3 only; TLS 1.2 with ECDHE + AEAD suites only; no renegotiation,
/// no compression; session resumption on (a server-side session cache: TLS 1.2 session ids,
/// one stateful TLS 1.3 ticket per connection, sent with the first answer to a client that
/// has spoken; `TLSSession` issues it).
///
/// ALPN: the first protocol of *our* `alpn` list that the client offers. If the client
/// offers ALPN but none of ours, "http/1.1" is chosen when the client offers it, else the
/// handshake goes on without ALPN (the client then assumes HTTP/1.1 or gives up itself).
/// An empty `alpn` list disables ALPN.
///
/// Immutable after `init`; one context is shared by every worker thread, which OpenSSL
/// allows for `SSL_CTX` once configured.
public final class TLSServerContext: @unchecked Sendable {
    let defaultContext: SSLContextHandle
    /// Every named context, kept alive here (the table and OpenSSL only borrow them).
    private let namedContexts: [SSLContextHandle]
    /// Borrowed by OpenSSL's SNI callback as its argument.
    private let serverNames: ServerNameTable
    /// Borrowed by OpenSSL's ALPN callback as its argument.
    private let alpn: ALPNProtocols

    /// - Parameter clientCertificateCA: when set, clients must present a certificate issued
    ///   by a CA in this PEM file (mutual TLS); the handshake fails otherwise.
    /// - Throws: `TLSError` naming the file when a certificate, chain or key cannot be read
    ///   or parsed, or when a key does not match its certificate; also for a malformed
    ///   server name or ALPN name.
    public init(defaultCertificate: TLSCertificateFiles,
                names: [String: TLSCertificateFiles] = [:],
                alpn: [String] = ["h2", "http/1.1"],
                clientCertificateCA: String? = nil) throws(TLSError) {
        let alpn = try ALPNProtocols(alpn)
        let defaultContext = try Self.makeContext(defaultCertificate, clientCertificateCA: clientCertificateCA)
        // One context per distinct certificate, however many names point at it.
        var byFiles: [TLSCertificateFiles: SSLContextHandle] = [defaultCertificate: defaultContext]
        var byName: [String: SSLContextHandle] = [:]
        for (name, files) in names.sorted(by: { $0.key < $1.key }) {
            if let existing = byFiles[files] {
                byName[name] = existing
            } else {
                let context = try Self.makeContext(files, clientCertificateCA: clientCertificateCA)
                byFiles[files] = context
                byName[name] = context
            }
        }
        self.serverNames = try ServerNameTable(byName)
        self.defaultContext = defaultContext
        self.namedContexts = byFiles.values.filter { $0 !== defaultContext }
        self.alpn = alpn

        for context in [defaultContext] + namedContexts where !alpn.wire.isEmpty {
            // After an SNI switch OpenSSL asks the *new* context for ALPN, so all need it.
            SSL_CTX_set_alpn_select_cb(context.pointer, selectALPN, Unmanaged.passUnretained(alpn).toOpaque())
        }
        // SNI is asked of the context the session was created from: the default one.
        if !namedContexts.isEmpty {
            _ = sy_SSL_CTX_set_tlsext_servername_callback(defaultContext.pointer, selectCertificate)
            _ = sy_SSL_CTX_set_tlsext_servername_arg(defaultContext.pointer, Unmanaged.passUnretained(serverNames).toOpaque())
        }
    }

    /// Checks that a certificate and key can be served: both readable and parseable, the key
    /// matches, the chain loads, and the certificate is valid now (not expired, not future).
    /// For `switchyard check`; `init` does not refuse an expired certificate.
    public static func validate(_ files: TLSCertificateFiles) throws(TLSError) {
        let context = try makeContext(files, clientCertificateCA: nil)
        guard let leaf = CertificateLoader.leaf(of: context.pointer) else {
            throw TLSError(message: "no certificate in \(files.certificatePath)")
        }
        if let notAfter = X509_get0_notAfter(leaf), X509_cmp_current_time(notAfter) < 0 {
            throw TLSError(message: "certificate \(files.certificatePath) expired on \(MemoryBIOText.time(notAfter))")
        }
        if let notBefore = X509_get0_notBefore(leaf), X509_cmp_current_time(notBefore) > 0 {
            throw TLSError(message: "certificate \(files.certificatePath) is not valid before \(MemoryBIOText.time(notBefore))")
        }
    }

    /// Drops the sessions whose lifetime ended by `now` (Unix seconds) from every context's
    /// cache. OpenSSL's own clearing is off (see `makeContext`): one worker calls this about
    /// once a minute. Safe from any thread (OpenSSL locks the cache).
    public func flushExpiredSessions(now: Int) {
        SSL_CTX_flush_sessions(defaultContext.pointer, now)
        for context in namedContexts { SSL_CTX_flush_sessions(context.pointer, now) }
    }

    /// Sessions held in the caches, all contexts together.
    public var cachedSessions: Int {
        namedContexts.reduce(sy_SSL_CTX_sess_number(defaultContext.pointer)) { $0 + sy_SSL_CTX_sess_number($1.pointer) }
    }

    private static func makeContext(_ files: TLSCertificateFiles, clientCertificateCA: String?) throws(TLSError) -> SSLContextHandle {
        let context = try SSLContextHandle(server: true)
        try CertificateLoader.load(files, into: context.pointer)
        // No automatic clearing: OpenSSL's walks the whole cache (up to 20,480 sessions, cold
        // memory) under the context's write lock on every 255th handshake, stalling every
        // worker's handshakes meanwhile (perf: `OPENSSL_LH_doall_arg` among the resumed
        // handshake's costs). One worker calls `flushExpiredSessions` once a minute instead;
        // an expired session is never resumed meanwhile (checked at lookup), and a full cache
        // drops its oldest session for each new one.
        _ = sy_SSL_CTX_set_session_cache_mode(context.pointer, Int(SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR))
        // Resumption from the server's own session cache (shared by every worker): TLS 1.2
        // by session id, TLS 1.3 by one stateful ticket (an id into the cache) per connection.
        // OpenSSL's default, two tickets each holding the whole session encrypted, cost
        // about 160,000 instructions a ticket (the session encoded three times and decoded
        // once, then encrypted and MACed): a sixth of a full handshake (bench/callgrind
        // --handshakes: 2.79 M → 2.51 M a handshake, resumed ones 7 % fewer too). A browser
        // resumes with one ticket and gets the next from that connection. The cache holds
        // at most OpenSSL's 20,480 sessions (about 1.1 KiB each, measured), the oldest
        // going first, each for OpenSSL's 2 hours.
        // None at the end of the handshake: `TLSSession` asks for the one ticket once the
        // client has sent bytes, and it leaves with our first answer. A connection that
        // never carries a request (health checks, scanners, preconnects) costs no ticket,
        // no cached session and no extra send.
        _ = SSL_CTX_set_options(context.pointer, SY_SSL_OP_NO_TICKET)
        _ = SSL_CTX_set_num_tickets(context.pointer, 0)
        // Sessions are only resumed within the same id context; OpenSSL refuses to resume
        // at all without one when client certificates are verified.
        let idContext = Array("switchyard".utf8)
        _ = SSL_CTX_set_session_id_context(context.pointer, idContext, UInt32(idContext.count))
        if let caFile = clientCertificateCA {
            try requireClientCertificates(caFile, on: context.pointer)
        }
        return context
    }

    private static func requireClientCertificates(_ caFile: String, on context: OpaquePointer) throws(TLSError) {
        guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
            throw TLSError.openSSL("cannot load client CA file \(caFile)")
        }
        // The CA names the server sends in CertificateRequest, so clients pick the right cert.
        guard let names = SSL_load_client_CA_file(caFile) else {
            throw TLSError.openSSL("cannot read CA names from client CA file \(caFile)")
        }
        SSL_CTX_set_client_CA_list(context, names)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
    }
}

/// OpenSSL's ALPN callback: `arg` is the context's `ALPNProtocols`, alive as long as the
/// `TLSServerContext`, which every `TLSSession` keeps alive.
private func selectALPN(_ ssl: OpaquePointer?,
                        _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                        _ outLength: UnsafeMutablePointer<UInt8>?,
                        _ offer: UnsafePointer<UInt8>?,
                        _ offerLength: UInt32,
                        _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let arg, let offer, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
    let protocols = Unmanaged<ALPNProtocols>.fromOpaque(arg).takeUnretainedValue()
    let offered = UnsafeBufferPointer(start: offer, count: Int(offerLength))
    guard let chosen = protocols.select(from: offered) else { return SSL_TLSEXT_ERR_NOACK }
    // Points into the client's offer, which OpenSSL keeps until it has copied the choice.
    out.pointee = offer + chosen.lowerBound
    outLength.pointee = UInt8(chosen.count)
    return SSL_TLSEXT_ERR_OK
}

/// OpenSSL's SNI callback: `arg` is the context's `ServerNameTable`. An unknown name, or
/// none, keeps the default certificate rather than failing: browsers and health checkers
/// connect by address, and a certificate-name warning beats a refused handshake.
private func selectCertificate(_ ssl: OpaquePointer?, _ alert: UnsafeMutablePointer<Int32>?, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let ssl, let arg, let raw = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else {
        return SSL_TLSEXT_ERR_OK
    }
    let table = Unmanaged<ServerNameTable>.fromOpaque(arg).takeUnretainedValue()
    guard let context = table.context(for: String(cString: raw)) else { return SSL_TLSEXT_ERR_OK }
    guard SSL_set_SSL_CTX(ssl, context.pointer) != nil else {
        alert?.pointee = SSL_AD_INTERNAL_ERROR
        return SSL_TLSEXT_ERR_ALERT_FATAL
    }
    return SSL_TLSEXT_ERR_OK
}
