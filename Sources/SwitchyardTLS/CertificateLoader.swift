import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// Loads a certificate, its chain and its private key into a context, and checks that the
/// key belongs to the certificate. Every error names the file at fault.
enum CertificateLoader {
    static func load(_ files: TLSCertificateFiles, into context: OpaquePointer) throws(TLSError) {
        ERR_clear_error()
        try requireReadable(files.certificatePath, what: "certificate")
        try requireReadable(files.keyPath, what: "private key")
        // Reads the leaf and any intermediates that follow it in the same file.
        guard SSL_CTX_use_certificate_chain_file(context, files.certificatePath) == 1 else {
            throw TLSError.openSSL("cannot load certificate \(files.certificatePath)")
        }
        if let chainPath = files.chainPath {
            try requireReadable(chainPath, what: "certificate chain")
            try addChain(from: chainPath, to: context)
        }
        guard SSL_CTX_use_PrivateKey_file(context, files.keyPath, SSL_FILETYPE_PEM) == 1 else {
            // OpenSSL compares the key with the certificate while loading it; say so plainly.
            let last = ERR_peek_last_error()
            let mismatch = ERR_GET_LIB(last) == ERR_LIB_X509
                && (ERR_GET_REASON(last) == X509_R_KEY_VALUES_MISMATCH || ERR_GET_REASON(last) == X509_R_KEY_TYPE_MISMATCH)
            throw TLSError.openSSL(mismatch
                ? "private key \(files.keyPath) does not match certificate \(files.certificatePath)"
                : "cannot load private key \(files.keyPath)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError.openSSL("private key \(files.keyPath) does not match certificate \(files.certificatePath)")
        }
    }

    /// The leaf certificate last loaded into `context`, for inspection (not owned).
    static func leaf(of context: OpaquePointer) -> OpaquePointer? {
        SSL_CTX_get0_certificate(context)
    }

    /// Turns "missing" and "permission denied" into a plain sentence before OpenSSL gets a
    /// chance to bury them in its error queue.
    private static func requireReadable(_ path: String, what: String) throws(TLSError) {
        guard access(path, R_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            throw TLSError(message: "cannot read \(what) file \(path): \(reason)")
        }
    }

    private static func addChain(from path: String, to context: OpaquePointer) throws(TLSError) {
        guard let bio = BIO_new_file(path, "r") else {
            throw TLSError.openSSL("cannot open certificate chain \(path)")
        }
        defer { BIO_free(bio) }
        var count = 0
        while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
            guard sy_SSL_CTX_add0_chain_cert(context, certificate) == 1 else {
                X509_free(certificate)
                throw TLSError.openSSL("cannot add a certificate from chain \(path)")
            }
            count += 1
        }
        // The loop ends on "no more PEM blocks", which OpenSSL queues as an error; that one is
        // the expected end. Any other error is a damaged block in the middle of the file.
        let last = ERR_peek_last_error()
        guard count > 0, ERR_GET_LIB(last) == ERR_LIB_PEM, ERR_GET_REASON(last) == PEM_R_NO_START_LINE else {
            throw TLSError.openSSL(count == 0 ? "no certificate found in chain \(path)" : "cannot read chain \(path)")
        }
        ERR_clear_error()
    }
}
