import COpenSSL

/// A TLS failure: a certificate or key that cannot be used, a handshake the peer or we
/// refused, or a protocol error on an established connection.
///
/// `message` is meant for a person: it says what we were doing, names the file or the
/// reason, and ends with OpenSSL's own error queue text (for example
/// `"handshake failed: certificate verify failed: hostname mismatch (error:0A000086:SSL
/// routines::certificate verify failed)"`). Creating the error drains the calling thread's
/// OpenSSL error queue, so a later call on the same thread starts clean.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(message: String) {
        self.message = message
    }

    public var description: String { message }

    /// `context` followed by whatever OpenSSL queued on this thread, which is drained.
    static func openSSL(_ context: String) -> TLSError {
        let queued = drainErrorQueue()
        return TLSError(message: queued.isEmpty ? context : "\(context) (\(queued))")
    }

    /// Pops every entry of this thread's OpenSSL error queue into one line.
    static func drainErrorQueue() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            // ERR_error_string_n(3): 256 bytes hold any message; it always NUL-terminates.
            let text = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer in
                ERR_error_string_n(code, buffer.baseAddress, buffer.count)
                return String(cString: buffer.baseAddress!)
            }
            parts.append(text)
        }
        return parts.joined(separator: "; ")
    }
}
