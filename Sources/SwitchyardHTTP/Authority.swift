/// Checks an authority (`host [ ":" port ]`) from a Host field or a request target.
enum Authority {
    /// Most digits in a port.
    static let maxPortDigits = 5

    /// Accepts a host that is a registered name or IPv4 address made of unreserved characters
    /// (ALPHA DIGIT - . _ ~), or an IP literal in brackets (hex digits, ':' and '.'), followed by
    /// an optional ":" and 1–5 digits. Stricter than RFC 3986 on purpose: no userinfo ('@'),
    /// no sub-delims (a ',' would read as a list of hosts), no percent-encoding, no empty host,
    /// no empty port. Anything else is 400.
    static func check(_ b: UnsafeRawBufferPointer, _ span: ByteSpan, requirePort: Bool) throws(ParseFailure) {
        guard span.count > 0 else { throw ParseFailure(400, "empty host", at: span.start) }
        var i = span.start
        let end = span.end
        if b[i] == UInt8(ascii: "[") {
            i += 1
            let literalStart = i
            while i < end, b[i] != UInt8(ascii: "]") {
                let c = b[i]
                guard ByteClass.hexValue(c) != nil || c == Byte.colon || c == UInt8(ascii: ".") else {
                    throw ParseFailure(400, "invalid byte in an IP literal", at: i)
                }
                i += 1
            }
            guard i < end, i > literalStart else { throw ParseFailure(400, "malformed IP literal", at: span.start) }
            i += 1
        } else {
            let hostStart = i
            while i < end, b[i] != Byte.colon {
                guard ByteClass.isUnreserved(b[i]) else { throw ParseFailure(400, "invalid byte in a host", at: i) }
                i += 1
            }
            guard i > hostStart else { throw ParseFailure(400, "empty host", at: span.start) }
        }
        if i == end {
            if requirePort { throw ParseFailure(400, "authority without a port", at: span.start) }
            return
        }
        guard b[i] == Byte.colon else { throw ParseFailure(400, "invalid byte after an IP literal", at: i) }
        i += 1
        let digits = end - i
        guard digits >= 1 && digits <= maxPortDigits else { throw ParseFailure(400, "malformed port", at: i) }
        while i < end {
            guard ByteClass.isDigit(b[i]) else { throw ParseFailure(400, "malformed port", at: i) }
            i += 1
        }
    }
}
