import COpenSSL

/// Runs an OpenSSL printer into a temporary memory BIO and returns the text. Off the hot
/// path only (it allocates): certificate names and dates for errors and inspection.
enum MemoryBIOText {
    static func capture(_ print: (OpaquePointer) -> Void) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        print(bio)
        let count = Int(BIO_ctrl_pending(bio))
        guard count > 0 else { return "" }
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32(count)) }
        return String(decoding: bytes.prefix(max(0, Int(read))), as: UTF8.self)
    }

    /// A certificate's subject in RFC 2253 form, e.g. "CN=localhost,O=Example".
    static func subject(of certificate: OpaquePointer) -> String {
        capture { bio in _ = X509_NAME_print_ex(bio, X509_get_subject_name(certificate), 0, SY_XN_FLAG_RFC2253) }
    }

    static func time(_ time: UnsafePointer<ASN1_TIME>) -> String {
        capture { bio in _ = ASN1_TIME_print(bio, time) }
    }
}
