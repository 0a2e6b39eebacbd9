/// Judges a Transfer-Encoding value. The only transfer coding we forward is "chunked" alone.
enum TransferEncoding {
    /// A request's Transfer-Encoding value; returns normally only for exactly "chunked"
    /// (case-insensitive, OWS trimmed).
    ///
    /// Our choice of statuses: a well-formed list of codings we know but do not support,
    /// with chunked last and only once ("gzip, chunked"), is 501 (RFC 9112 §6.1: a coding we
    /// do not implement). Everything else is 400: chunked not last or missing ("chunked,
    /// gzip", "gzip": RFC 9112 §6.3 says the length cannot be determined), chunked twice,
    /// unknown codings ("xchunked"), parameters, empty elements and empty values.
    static func checkRequest(_ b: UnsafeRawBufferPointer, _ value: ByteSpan) throws(ParseFailure) {
        var list = FieldList(b, value)
        var elements = 0
        var chunkedCount = 0
        var lastIsChunked = false
        var allKnown = true
        while let element = list.next() {
            guard FieldList.isToken(b, element) else {
                throw ParseFailure(400, "malformed Transfer-Encoding", at: element.start)
            }
            elements += 1
            let name = b[span: element]
            lastIsChunked = ASCII.equalsIgnoringCase(name, "chunked")
            if lastIsChunked {
                chunkedCount += 1
            } else if !isKnownUnsupported(name) {
                allKnown = false
            }
        }
        if elements == 1 && chunkedCount == 1 { return }
        guard chunkedCount == 1, lastIsChunked, allKnown else {
            throw ParseFailure(400, "Transfer-Encoding must be exactly \"chunked\"", at: value.start)
        }
        throw ParseFailure(501, "transfer codings other than chunked are not implemented", at: value.start)
    }

    /// A response's Transfer-Encoding value: exactly "chunked", else an error (reported as 502).
    static func checkResponse(_ b: UnsafeRawBufferPointer, _ value: ByteSpan) throws(ParseFailure) {
        guard ASCII.equalsIgnoringCase(b[span: value], "chunked") else {
            throw ParseFailure(502, "upstream Transfer-Encoding is not exactly \"chunked\"", at: value.start)
        }
    }

    private static func isKnownUnsupported(_ name: UnsafeRawBufferPointer) -> Bool {
        ASCII.equalsIgnoringCase(name, "gzip") || ASCII.equalsIgnoringCase(name, "deflate")
            || ASCII.equalsIgnoringCase(name, "compress") || ASCII.equalsIgnoringCase(name, "x-gzip")
            || ASCII.equalsIgnoringCase(name, "x-compress")
    }
}
