/// A certificate, its key and optionally a chain, as paths written in the routes file.
/// The parser does not open the files; `check`, `serve` and `reload` do.
public struct CertificatePaths: Sendable, Equatable {
    public var certPath: String
    public var keyPath: String
    public var chainPath: String?
    /// The line that named them, for messages that point back at the file.
    public var line: Int

    public init(certPath: String, keyPath: String, chainPath: String? = nil, line: Int) {
        self.certPath = certPath
        self.keyPath = keyPath
        self.chainPath = chainPath
        self.line = line
    }

    /// The same paths with the line cleared (for comparing what the files are, not where).
    public var withoutLine: CertificatePaths {
        var copy = self
        copy.line = 0
        return copy
    }
}
