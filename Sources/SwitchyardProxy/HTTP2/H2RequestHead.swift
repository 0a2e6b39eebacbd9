import SwitchyardHTTP

/// An HTTP/2 request head as nghttp2 decodes it, loaded straight into a request parser's
/// field table: each value is copied once into a pooled buffer and named by spans, and the
/// parser applies the same rules as to a text head. Nothing is rendered as HTTP/1.1 and
/// parsed a second time.
///
/// Pseudo-fields come before the others (nghttp2 enforces it), so the head is begun on the
/// first regular field: `:authority` is then known and becomes the `host` field, first as
/// in a text head (Host and Cookie are written in their usual case, as backends log them).
/// Cookie crumbs are joined with "; " (RFC 9113 §8.2.3) and added last.
/// `expect` and `te` are dropped: the body arrives in DATA frames, and TE means nothing
/// on the HTTP/1.1 side.
struct H2RequestHead {
    /// Every byte the parser's spans point into; pooled, taken on the first field.
    private(set) var bytes: IOBuffer?
    private var cookies: IOBuffer?
    private var method = ByteSpan(start: 0, count: 0)
    private var path = ByteSpan(start: 0, count: 0)
    private var authority: ByteSpan?
    private var begun = false
    private var hostAdded = false
    /// The parser's verdict once it refused a field (nil: still fine).
    private var refusal: HeadParseResult?
    private var listBytes = 0
    private var fieldCount = 0
    /// Past the stream's header-list limits (or a buffer): answered 431.
    private(set) var tooLarge = false
    /// The byte count of the decoded list, as the access log's bytes in.
    var size: Int { listBytes }

    /// One decoded field.
    mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                      parser: HTTPRequestParser, pool: BufferPool, limits: H2Limits) {
        guard !tooLarge, refusal == nil else { return }
        fieldCount += 1
        listBytes += name.count + value.count + 32
        if fieldCount > limits.maxHeaderFields || listBytes > limits.maxHeaderListBytes {
            tooLarge = true
            return
        }
        // The length picks the one name a field can be before any comparison: most fields
        // are none of these and cost no call.
        let n = name.count
        if name.first == UInt8(ascii: ":") {
            if n == 7, ASCII.equals(name, ":method") { method = keep(value, pool) }
            else if n == 5, ASCII.equals(name, ":path") { path = keep(value, pool) }
            else if n == 10, ASCII.equals(name, ":authority") { authority = keep(value, pool) }
            // :scheme is not forwarded: X-Forwarded-Proto says how the client came in.
            return
        }
        if n == 6, ASCII.equals(name, "cookie") {
            if cookies == nil { cookies = pool.take() }
            let jar = cookies!
            guard jar.writableCount >= value.count + 2 else {
                tooLarge = true
                return
            }
            if !jar.isEmpty { jar.append("; ") }
            jar.append(value)
            return
        }
        if (n == 6 && ASCII.equals(name, "expect")) || (n == 2 && ASCII.equals(name, "te")) { return }
        begin(parser, pool)
        if n == 4, ASCII.equals(name, "host") {
            // :authority wins over Host (RFC 9113 §8.3.1): a second host is not sent on.
            if hostAdded { return }
            hostAdded = true
            addLiteral("Host", keep(value, pool), parser, pool)
            return
        }
        let nameSpan = keep(name, pool)
        let valueSpan = keep(value, pool)
        guard !tooLarge else { return }
        refusal = parser.addDecodedField(readable, name: nameSpan, value: valueSpan)
    }

    /// The head is complete: the parser's verdict (`.complete`, or `.error` with the status).
    mutating func complete(parser: HTTPRequestParser, pool: BufferPool, endStream: Bool) -> HeadParseResult {
        begin(parser, pool)
        if let refusal { return refusal }
        if !hostAdded {
            // Neither :authority nor Host: an empty Host, refused as in a text head.
            addLiteral("Host", ByteSpan(start: readable.count, count: 0), parser, pool)
        }
        if let jar = cookies, !jar.isEmpty {
            let value = keep(jar.readable, pool)
            addLiteral("Cookie", value, parser, pool)
        }
        if let refusal { return refusal }
        return parser.finishDecoded(readable, bodyByStreamEnd: !endStream)
    }

    /// Hands the decoded head's buffer to a parked exchange (write hold), which routes it
    /// again at release; the parser's spans point into it (the joined cookie was copied
    /// into it at completion, so the cookie buffer is not needed).
    mutating func takeBytes() -> IOBuffer? {
        bytes.take()
    }

    /// Gives the buffers back.
    mutating func release(_ pool: BufferPool) {
        if let bytes = bytes.take() { pool.give(bytes) }
        if let cookies = cookies.take() { pool.give(cookies) }
    }

    private var readable: UnsafeRawBufferPointer {
        bytes?.readable ?? UnsafeRawBufferPointer(start: nil, count: 0)
    }

    private mutating func begin(_ parser: HTTPRequestParser, _ pool: BufferPool) {
        guard !begun else { return }
        begun = true
        if bytes == nil { bytes = pool.take() }
        refusal = parser.beginDecoded(readable, method: method, target: path)
        if refusal == nil, let authority {
            hostAdded = true
            addLiteral("Host", authority, parser, pool)
        }
    }

    private mutating func addLiteral(_ name: StaticString, _ value: ByteSpan, _ parser: HTTPRequestParser, _ pool: BufferPool) {
        guard refusal == nil else { return }
        let nameSpan = keep(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), pool)
        guard !tooLarge else { return }
        refusal = parser.addDecodedField(readable, name: nameSpan, value: value)
    }

    /// Copies bytes into `bytes`; their span (empty, and `tooLarge`, when they do not fit:
    /// the header-list limit is below a buffer, so only a broken limit gets there).
    private mutating func keep(_ value: UnsafeRawBufferPointer, _ pool: BufferPool) -> ByteSpan {
        if bytes == nil { bytes = pool.take() }
        // `bytes` holds the buffer through this call. Used through a plain `let` (or an
        // `unowned(unsafe)` one) it is retained and released around the append — an atomic
        // pair for each of a request's six fields; a guaranteed reference costs nothing.
        let span = Unmanaged.passUnretained(bytes.unsafelyUnwrapped)._withUnsafeGuaranteedRef { buffer -> ByteSpan? in
            guard buffer.writableCount >= value.count else { return nil }
            let span = ByteSpan(start: buffer.readableCount, count: value.count)
            buffer.append(value)
            return span
        }
        guard let span else {
            tooLarge = true
            return ByteSpan(start: 0, count: 0)
        }
        return span
    }
}
