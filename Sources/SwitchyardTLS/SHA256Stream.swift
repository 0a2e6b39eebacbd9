import COpenSSL

/// SHA-256 fed piece by piece (a mirrored answer's body, hashed as it streams past, so a
/// body of any size is hashed without being held). One EVP context, reused: `reset` starts
/// a new digest without allocating again.
public final class SHA256Stream {
    private let context: OpaquePointer

    public init() {
        // Fails only without memory: nothing to go on with.
        guard let made = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new failed") }
        context = made
        reset()
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Starts a new digest.
    public func reset() {
        precondition(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex(SHA-256) failed")
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        precondition(EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1, "EVP_DigestUpdate failed")
    }

    /// The 32-byte digest of everything fed since the last `reset`; the stream is reset.
    public func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &digest, &length) == 1 && length == 32, "EVP_DigestFinal_ex failed")
        reset()
        return digest
    }
}
