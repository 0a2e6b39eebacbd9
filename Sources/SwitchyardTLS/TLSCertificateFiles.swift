/// Where a certificate and its private key live, as PEM files.
///
/// `certificatePath` holds the leaf certificate, optionally followed by intermediates;
/// `chainPath`, when set, holds further intermediates sent after it. `keyPath` holds the
/// unencrypted private key matching the leaf.
public struct TLSCertificateFiles: Sendable, Hashable {
    public var certificatePath: String
    public var keyPath: String
    public var chainPath: String?

    public init(certificatePath: String, keyPath: String, chainPath: String? = nil) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.chainPath = chainPath
    }
}
