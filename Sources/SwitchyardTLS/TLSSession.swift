import COpenSSL
import CSwitchyardCiphertextSink
#if canImport(Glibc)
import Glibc
#endif

/// One TLS connection, as a byte transformer: it owns no socket. The event loop feeds it
/// ciphertext from the network, sends the ciphertext it produces, and reads and writes
/// plaintext through it.
///
/// The loop's duty after *every* call (handshake, read, write, shutdown): if
/// `hasCiphertextToSend`, send `ciphertextToSend` (or drain `takeCiphertext`) to the
/// socket. Handshake records, session tickets, key updates and alerts appear there without
/// a write of ours.
///
/// Not thread-safe: a session lives on one event-loop thread. It keeps its context alive.
///
/// Hot path: `feedCiphertext`, `takeCiphertext`, `ciphertextToSend`, `readPlaintext` and
/// `writePlaintext` allocate no Swift objects (OpenSSL reuses its record buffers, and the
/// input memory BIO and the output sink keep their capacity), except when they throw.
public final class TLSSession {
    /// Soft limit on ciphertext buffered in either direction. `feedCiphertext` accepts no
    /// more once this much is waiting to be decrypted, and `writePlaintext` consumes nothing
    /// once this much is waiting to be sent: the caller's cue to stop reading the socket, or
    /// to wait for it to become writable. A full TLS record (16 KiB + overhead) always fits.
    public static var pendingCiphertextLimit: Int { 64 * 1024 }

    private let ssl: OpaquePointer
    /// Ciphertext from the network, read by OpenSSL (owned by `ssl`).
    private let networkIn: OpaquePointer
    /// Ciphertext for the network, written by OpenSSL (owned by `ssl`): a sink BIO
    /// (`CSwitchyardCiphertextSink`), sent from where it lies (`ciphertextToSend`).
    private let networkOut: OpaquePointer
    /// The context whose callbacks and certificates this session borrows.
    private let owner: AnyObject
    /// Set once the handshake has been seen to finish; OpenSSL's own flag dips while it
    /// processes post-handshake messages (tickets, key updates).
    private var handshakeFinished = false
    /// Server side: where this connection's one TLS 1.3 session ticket stands. It is issued
    /// with our first write after the client's first bytes, not at the end of the handshake
    /// (`TLSServerContext` sends none there): a client that says nothing — a TLS health
    /// check, a scanner, a browser's unused preconnect — costs no ticket, and a client that
    /// asks gets it in the same send as the answer.
    private var ticket: TicketState = .notOwed

    private enum TicketState {
        case notOwed, awaitingClientBytes, due
    }

    /// A downstream session: we are the server.
    public init(server context: TLSServerContext) throws(TLSError) {
        (ssl, networkIn, networkOut) = try Self.makeSSL(context.defaultContext.pointer)
        owner = context
        ticket = .awaitingClientBytes
        SSL_set_accept_state(ssl)
    }

    /// An upstream session: we are the client.
    ///
    /// - Parameters:
    ///   - serverName: sent as SNI (unless it is an IP address, which SNI forbids) and, when
    ///     the context verifies, the name (or address) the certificate must carry.
    ///   - session: a session saved from an earlier connection to the same server, to resume.
    public init(client context: TLSClientContext, serverName: String, resuming session: TLSSavedSession? = nil) throws(TLSError) {
        (ssl, networkIn, networkOut) = try Self.makeSSL(context.context.pointer)
        owner = context
        let isAddress = Self.isIPAddress(serverName)
        if !isAddress && !serverName.isEmpty {
            guard sy_SSL_set_tlsext_host_name(ssl, serverName) == 1 else {
                throw TLSError.openSSL("bad TLS server name \"\(serverName)\"")
            }
        }
        if context.verify {
            guard !serverName.isEmpty else {
                throw TLSError(message: "a verified TLS connection needs a server name to check the certificate against")
            }
            // "*.example.com" may match one whole label only, never "f*.example.com".
            SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
            let accepted = isAddress
                ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName)
                : SSL_set1_host(ssl, serverName)
            guard accepted == 1 else {
                throw TLSError.openSSL("bad TLS server name \"\(serverName)\"")
            }
        }
        if let session {
            guard SSL_set_session(ssl, session.pointer) == 1 else {
                throw TLSError.openSSL("cannot resume the saved TLS session")
            }
        }
        SSL_set_connect_state(ssl)
    }

    deinit {
        // Freed without our close_notify (the peer vanished, an idle or error close),
        // OpenSSL would drop the session from the server's cache and so void the ticket the
        // client holds. Since TLS 1.1 an unclean close is no reason to forget a session (RFC
        // 5246 §7.2.1); a fatal alert still drops it, OpenSSL does that itself.
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN)
        SSL_free(ssl)
    }

    // MARK: Ciphertext, to and from the network

    /// Ciphertext received from the network. Returns how many bytes were accepted: all of
    /// them, unless `pendingCiphertextLimit` bytes already wait to be decrypted (then fewer,
    /// possibly 0: call `handshake` or `readPlaintext`, then offer the rest again).
    public func feedCiphertext(_ bytes: UnsafeRawBufferPointer) -> Int {
        let room = Self.pendingCiphertextLimit - Int(BIO_ctrl_pending(networkIn))
        guard room > 0, let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        let written = BIO_write(networkIn, base, Int32(min(room, bytes.count)))
        return max(0, Int(written))
    }

    /// Ciphertext to send to the network (handshake records, alerts, encrypted data): copies
    /// up to `buffer.count` bytes into `buffer` and returns the count (0 = nothing pending).
    public func takeCiphertext(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let waiting = ciphertextToSend
        guard let base = buffer.baseAddress, let from = waiting.baseAddress else { return 0 }
        let count = min(buffer.count, waiting.count)
        base.copyMemory(from: from, byteCount: count)
        ciphertextSent(count)
        return count
    }

    /// The ciphertext waiting to be sent, where it lies (empty when none): valid until the
    /// next call into this session. Send from it, then say how much went (`ciphertextSent`);
    /// `takeCiphertext` is the same with a copy.
    public var ciphertextToSend: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: sy_sink_bio_data(networkOut), count: sy_sink_bio_pending(networkOut))
    }

    /// Bytes of ciphertext that went straight to a lent socket (`writePlaintext(_:sendingTo:)`)
    /// instead of waiting in the sink.
    public var ciphertextSentDirectly: UInt64 { UInt64(sy_sink_bio_direct_bytes(networkOut)) }

    /// The first `count` bytes of `ciphertextToSend` were sent.
    public func ciphertextSent(_ count: Int) {
        precondition(count >= 0 && count <= sy_sink_bio_pending(networkOut), "sent more ciphertext than was waiting")
        sy_sink_bio_consume(networkOut, count)
    }

    /// How many more ciphertext bytes `feedCiphertext` would accept now.
    public var ciphertextRoom: Int {
        max(0, Self.pendingCiphertextLimit - Int(BIO_ctrl_pending(networkIn)))
    }

    /// How many more ciphertext bytes may wait to be sent before `writePlaintext` takes no
    /// more plaintext.
    public var ciphertextOutRoom: Int {
        max(0, Self.pendingCiphertextLimit - sy_sink_bio_pending(networkOut))
    }

    /// Whether `takeCiphertext` has bytes to give.
    public var hasCiphertextToSend: Bool {
        sy_sink_bio_pending(networkOut) > 0
    }

    /// Whether anything the peer sent is still unread: ciphertext not yet decrypted, or
    /// plaintext decrypted but not yet taken by `readPlaintext`.
    public var hasUnreadInput: Bool {
        BIO_ctrl_pending(networkIn) > 0 || SSL_has_pending(ssl) == 1
    }

    // MARK: Handshake

    /// Drives the handshake as far as the ciphertext fed so far allows.
    ///
    /// - Returns: `.complete` once both sides are done (and on every later call), or
    ///   `.needMore`: send what `takeCiphertext` gives, feed what arrives, call again.
    /// - Throws: `TLSError` saying why the handshake failed (not a TLS ClientHello, no
    ///   common version or cipher, "certificate verify failed: hostname mismatch", an alert
    ///   from the peer…). An alert for the peer may then be pending: send it, then close.
    public func handshake() throws(TLSError) -> TLSHandshakeState {
        if handshakeFinished { return .complete }
        Self.emptyErrorQueue()
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            handshakeFinished = true
            return .complete
        }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needMore
        default:
            throw failure("TLS handshake failed")
        }
    }

    /// Whether the handshake has finished.
    public var isHandshakeComplete: Bool {
        handshakeFinished || SSL_is_init_finished(ssl) == 1
    }

    // MARK: Plaintext

    /// Decrypts into `buffer` (which must not be empty).
    ///
    /// - Returns: `.bytes(n)`; `.needMore` when no complete record is buffered (feed more;
    ///   also send pending ciphertext, a read can produce some); `.closed` once the peer's
    ///   close_notify has arrived.
    /// - Throws: `TLSError` on a protocol error, a bad record MAC, or a fatal alert.
    public func readPlaintext(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSReadResult {
        precondition(buffer.count > 0, "readPlaintext needs room for at least one byte")
        Self.emptyErrorQueue()
        var count = 0
        if SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count) == 1 {
            handshakeFinished = true
            if ticket == .awaitingClientBytes { ticket = .due }
            return .bytes(count)
        }
        switch SSL_get_error(ssl, 0) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needMore
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            throw failure("TLS read failed")
        }
    }

    /// Encrypts application data. Returns how many bytes of `bytes` were consumed; their
    /// ciphertext is then ready for `takeCiphertext`. Consumes fewer than offered, or none,
    /// when `pendingCiphertextLimit` bytes already wait to be sent or the handshake has not
    /// finished; offer the rest again after sending.
    ///
    /// - Parameter socket: the connection's socket, lent for this call (-1: none). Full
    ///   records (8 KiB or more) then go straight to it, after what waits, with no copy
    ///   into the sink; what it does not take waits as usual. Send what waits after the
    ///   call in either case: short records, and whatever the socket refused, stay.
    /// - Throws: `TLSError` when the connection can no longer send (after `shutdown`, or a
    ///   fatal error).
    public func writePlaintext(_ bytes: UnsafeRawBufferPointer, sendingTo socket: Int32 = -1) throws(TLSError) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        if socket >= 0 { sy_sink_bio_lend_socket(networkOut, socket) }
        defer { if socket >= 0 { sy_sink_bio_lend_socket(networkOut, -1) } }
        if ticket == .due {
            // Queued for OpenSSL's next write, which is this one: the ticket's record goes
            // out ahead of the data. Refused (0) where tickets do not exist (TLS 1.2).
            ticket = .notOwed
            _ = SSL_new_session_ticket(ssl)
        }
        var total = 0
        // With partial writes on, OpenSSL returns after each record; loop to fill the room.
        while total < bytes.count {
            let room = Self.pendingCiphertextLimit - sy_sink_bio_pending(networkOut)
            guard room > 0 else { break }
            Self.emptyErrorQueue()
            var written = 0
            if SSL_write_ex(ssl, base + total, min(room, bytes.count - total), &written) == 1 {
                handshakeFinished = true
                total += written
                continue
            }
            switch SSL_get_error(ssl, 0) {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                return total
            default:
                // Report what went through; the error recurs on the next call.
                if total > 0 {
                    ERR_clear_error()
                    return total
                }
                throw failure("TLS write failed")
            }
        }
        return total
    }

    /// Queues close_notify for the peer (then send what `takeCiphertext` gives). Nothing is
    /// queued before the handshake has finished: then just close the connection.
    public func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        // A shutdown refused (mid-handshake, already sent) leaves nothing to act on.
        ERR_clear_error()
    }

    // MARK: What was negotiated

    /// The protocol chosen by ALPN ("h2", "http/1.1"), or nil when none was.
    public var negotiatedALPN: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The negotiated version, as OpenSSL names it ("TLSv1.3", "TLSv1.2").
    public var protocolVersion: String {
        String(cString: SSL_get_version(ssl))
    }

    /// Server side: the host name the client sent as SNI, or nil.
    public var serverName: String? {
        SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
    }

    /// Whether this connection resumed an earlier session instead of a full handshake.
    public var sessionReused: Bool {
        SSL_session_reused(ssl) == 1
    }

    /// The subject of the certificate the peer presented, in RFC 2253 form
    /// ("CN=localhost,O=Example"), or nil when it presented none.
    public var peerCertificateSubject: String? {
        SSL_get0_peer_certificate(ssl).map { MemoryBIOText.subject(of: $0) }
    }

    /// Client side: this connection's session if a later connection can resume it, else nil
    /// (with TLS 1.3 the server's tickets arrive after the handshake, with the first data).
    ///
    /// A copy: when a connection is freed without having sent close_notify — an upstream
    /// that closes after its answer, a connection we cut — OpenSSL marks *its* session not
    /// resumable, and the saved one would go with it.
    public var resumableSession: TLSSavedSession? {
        guard let session = SSL_get1_session(ssl) else { return nil }
        defer { SSL_SESSION_free(session) }
        guard SSL_SESSION_is_resumable(session) == 1, let copy = SSL_SESSION_dup(session) else { return nil }
        return TLSSavedSession(owning: copy)
    }

    // MARK: Private

    private static func makeSSL(_ context: OpaquePointer) throws(TLSError) -> (OpaquePointer, OpaquePointer, OpaquePointer) {
        guard let ssl = SSL_new(context) else {
            throw TLSError.openSSL("cannot create a TLS session")
        }
        guard let input = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.openSSL("cannot create a TLS memory buffer")
        }
        guard let output = sy_sink_bio_new() else {
            BIO_free(input)
            SSL_free(ssl)
            throw TLSError.openSSL("cannot create a TLS output buffer")
        }
        // An empty input buffer means "more may come" (retry), not end of stream: the end of
        // the TCP stream is the event loop's to report, not the buffer's.
        _ = sy_BIO_set_mem_eof_return(input, -1)
        SSL_set_bio(ssl, input, output)  // `ssl` owns both from here
        return (ssl, input, output)
    }

    /// The error for a failed call, with the certificate verification reason when that was
    /// the cause (OpenSSL's queue only says "certificate verify failed").
    private func failure(_ what: String) -> TLSError {
        let last = ERR_peek_last_error()
        let verifyResult = SSL_get_verify_result(ssl)
        if ERR_GET_LIB(last) == ERR_LIB_SSL, ERR_GET_REASON(last) == SSL_R_CERTIFICATE_VERIFY_FAILED,
           verifyResult != X509_V_OK {
            let reason = String(cString: X509_verify_cert_error_string(verifyResult))
            return .openSSL("\(what): certificate verify failed: \(reason)")
        }
        let queued = TLSError.drainErrorQueue()
        return TLSError(message: queued.isEmpty ? "\(what): the connection ended unexpectedly" : "\(what): \(queued)")
    }

    /// SSL_get_error reads the thread's error queue, so it must be empty before each call
    /// into OpenSSL. It nearly always is already: a peek costs a fraction of a clear (which
    /// wipes all 16 slots, about 800 instructions; 8 clears a handshake).
    @inline(__always)
    private static func emptyErrorQueue() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }

    private static func isIPAddress(_ name: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET, name, &address) == 1 || inet_pton(AF_INET6, name, &address) == 1
    }
}

/// Confined to one event-loop thread: OpenSSL's `SSL` object is not safe to share.
@available(*, unavailable)
extension TLSSession: Sendable {}
