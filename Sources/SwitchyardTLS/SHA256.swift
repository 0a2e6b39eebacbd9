import COpenSSL

/// SHA-256 through OpenSSL's EVP interface (the audit log's hash chain): the one digest the
/// project needs, from the library it already trusts for TLS, rather than a second copy.
public enum SHA256 {
    /// The digest of `bytes` as 64 lower-case hex digits.
    public static func hex<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let input = Array(bytes)
        let ok = input.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &digest, &length, EVP_sha256(), nil)
        }
        // EVP_Digest fails only without memory or with a broken OpenSSL: nothing to go on with.
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(64)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    public static func hex(_ text: String) -> String { hex(Array(text.utf8)) }
}
