/// Which certificate context answers which SNI host name.
///
/// Keys are lower-case host names, either exact (`"a.example.com"`) or a wildcard for one
/// leftmost label (`"*.example.com"` answers `a.example.com`, not `example.com` nor
/// `a.b.example.com`, as for certificates in RFC 6125 §6.4.3). An exact name wins over a
/// wildcard. Immutable once built; read from OpenSSL's SNI callback on any worker thread.
final class ServerNameTable: @unchecked Sendable {
    private let exact: [String: SSLContextHandle]
    private let wildcard: [String: SSLContextHandle]  // keyed by the part after "*."

    init(_ entries: [String: SSLContextHandle]) throws(TLSError) {
        var exact: [String: SSLContextHandle] = [:]
        var wildcard: [String: SSLContextHandle] = [:]
        for (name, context) in entries {
            let lowered = name.lowercased()
            if lowered.hasPrefix("*.") {
                let suffix = String(lowered.dropFirst(2))
                guard Self.isHostName(suffix) else {
                    throw TLSError(message: "bad wildcard server name \"\(name)\": expected \"*.\" followed by a host name")
                }
                wildcard[suffix] = context
            } else {
                guard Self.isHostName(lowered) else {
                    throw TLSError(message: "bad server name \"\(name)\": expected a host name or \"*.\" and a host name")
                }
                exact[lowered] = context
            }
        }
        self.exact = exact
        self.wildcard = wildcard
    }

    /// The context for a name the client sent, or nil for "use the default".
    func context(for serverName: String) -> SSLContextHandle? {
        var name = serverName.lowercased()
        // A trailing dot names the same host (absolute form); clients rarely send it.
        if name.hasSuffix(".") { name.removeLast() }
        if let context = exact[name] { return context }
        guard let dot = name.firstIndex(of: ".") else { return nil }
        return wildcard[String(name[name.index(after: dot)...])]
    }

    /// Letters, digits, '-', '.', '_' and no empty label: enough to reject typos such as
    /// "a.*.com" or "*foo" in configuration, not a full RFC 1123 check.
    private static func isHostName(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix("."), !name.hasSuffix("."), !name.contains("..") else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x2E || byte == 0x5F
        }
    }
}
