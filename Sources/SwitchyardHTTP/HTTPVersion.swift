/// The protocol version of an HTTP/1.x message. Only 1.0 and 1.1 are accepted.
public enum HTTPVersion: UInt8, Sendable {
    case http10, http11

    /// Reads an HTTP-version token: exactly "HTTP/1.1" or "HTTP/1.0". Anything shaped like
    /// "HTTP/<digits>.<digits>" is a version we do not speak (505); anything else, lowercase
    /// "http/1.1" included (the name is case-sensitive, RFC 9112 §2.3), is malformed (400).
    static func parse(_ b: UnsafeRawBufferPointer, at offset: Int) throws(ParseFailure) -> HTTPVersion {
        if b.count == 8 && ASCII.equals(b, "HTTP/1.1") { return .http11 }
        if b.count == 8 && ASCII.equals(b, "HTTP/1.0") { return .http10 }
        guard b.count >= 8, ASCII.equals(UnsafeRawBufferPointer(rebasing: b[0..<5]), "HTTP/") else {
            throw ParseFailure(400, "malformed HTTP version", at: offset)
        }
        var i = 5
        var major = 0
        while i < b.count, ByteClass.isDigit(b[i]) { i += 1; major += 1 }
        guard major > 0, i < b.count, b[i] == UInt8(ascii: ".") else {
            throw ParseFailure(400, "malformed HTTP version", at: offset)
        }
        i += 1
        var minor = 0
        while i < b.count, ByteClass.isDigit(b[i]) { i += 1; minor += 1 }
        guard minor > 0, i == b.count else {
            throw ParseFailure(400, "malformed HTTP version", at: offset)
        }
        throw ParseFailure(505, "HTTP version not supported (only HTTP/1.0 and HTTP/1.1)", at: offset)
    }
}
