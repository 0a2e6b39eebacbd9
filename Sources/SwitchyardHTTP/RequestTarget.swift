/// The form of a request-target (RFC 9112 §3.2) and the parts a proxy routes on.
struct RequestTarget {
    /// origin-form: up to '?'. absolute-form: the path after the authority, up to '?'; when
    /// that path is empty, the second '/' of "://", so the span still reads "/". "*": the "*".
    /// authority-form (CONNECT): empty, at the target's start.
    var path: ByteSpan
    /// absolute-form only: the authority, which must equal the Host field.
    var authority: ByteSpan?
    /// The query with its '?', or an empty span at the path's end. origin-form and
    /// absolute-form only.
    var query: ByteSpan

    /// Classifies and checks `target` (already known to be non-empty VCHARs). Rejected with 400:
    /// a fragment ('#'), "*" with a method other than OPTIONS, CONNECT without an
    /// authority-form target, an authority-form target with another method, a scheme other
    /// than http/https, userinfo, and anything that fits no form.
    static func analyse(_ b: UnsafeRawBufferPointer, _ target: ByteSpan, method: HTTPMethod)
        throws(ParseFailure) -> RequestTarget
    {
        for i in target.start..<target.end where b[i] == Byte.hash {
            throw ParseFailure(400, "request target contains a fragment ('#')", at: i)
        }
        let first = b[target.start]
        if method == .connect {
            guard first != Byte.slash else {
                throw ParseFailure(400, "CONNECT needs an authority-form target (host:port)", at: target.start)
            }
            try Authority.check(b, target, requirePort: true)
            return RequestTarget(path: ByteSpan(start: target.start, count: 0), authority: nil,
                                 query: ByteSpan(start: target.start, count: 0))
        }
        if first == Byte.slash {
            let path = pathSpan(b, from: target.start, to: target.end)
            return RequestTarget(path: path, authority: nil, query: ByteSpan(from: path.end, to: target.end))
        }
        if target.count == 1 && first == UInt8(ascii: "*") {
            guard method == .options else {
                throw ParseFailure(400, "asterisk-form target is only for OPTIONS", at: target.start)
            }
            return RequestTarget(path: target, authority: nil, query: ByteSpan(start: target.end, count: 0))
        }
        let t = b[span: target]
        let schemeLength: Int
        if ASCII.hasPrefixIgnoringCase(t, "http://") {
            schemeLength = 7
        } else if ASCII.hasPrefixIgnoringCase(t, "https://") {
            schemeLength = 8
        } else {
            throw ParseFailure(400, "request target is not origin-form, absolute-form (http/https) or \"*\"",
                               at: target.start)
        }
        let authorityStart = target.start + schemeLength
        var i = authorityStart
        while i < target.end, b[i] != Byte.slash, b[i] != Byte.question { i += 1 }
        let authority = ByteSpan(from: authorityStart, to: i)
        try Authority.check(b, authority, requirePort: false)
        var path = pathSpan(b, from: i, to: target.end)
        let query = ByteSpan(from: path.end, to: target.end)
        if path.count == 0 {
            // "http://h?x=1" and "http://h" mean the path "/" (RFC 9112 §3.2.2): the second
            // slash of "://" spells it, so routing, logging and forwarding read the same "/".
            path = ByteSpan(start: authorityStart - 1, count: 1)
        }
        return RequestTarget(path: path, authority: authority, query: query)
    }

    private static func pathSpan(_ b: UnsafeRawBufferPointer, from start: Int, to end: Int) -> ByteSpan {
        var i = start
        while i < end, b[i] != Byte.question { i += 1 }
        return ByteSpan(from: start, to: i)
    }
}
