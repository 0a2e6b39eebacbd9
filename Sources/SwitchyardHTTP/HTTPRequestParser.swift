/// A strict, incremental HTTP/1.1 request-head parser (RFC 9112) that does not allocate per
/// message.
///
/// Call `parse` with the message from its first byte, again with more bytes each time until
/// it answers `.complete` or `.error`; the bytes already passed must stay the same, though
/// the buffer may move. Positions are `ByteSpan` offsets into that buffer. After `.complete`,
/// the properties describe the head; call `reset()` before the next message. Confined to
/// one thread (the connection's event loop).
///
/// Strictness, beyond what each helper documents: lines end with CRLF only (bare CR or LF:
/// 400); leading empty lines before the request line are refused (400) rather than skipped;
/// exactly one SP separates the request line's parts; a second Content-Length field is 400
/// even when it repeats the first value (a proxy that picked "the other one" would frame
/// differently); Content-Length with Transfer-Encoding is 400; Transfer-Encoding in an
/// HTTP/1.0 request is 400; HTTP/1.1 needs exactly one Host, and an absolute-form target's
/// authority must equal it (400); an Expect other than 100-continue is 417.
public final class HTTPRequestParser {
    /// Longest method accepted; real methods are short, and a long one is an attack or a bug.
    public static let maxMethodBytes = 32

    private enum Stage {
        case reading
        case complete(headLength: Int)
        case failed(HTTPParseError)
    }

    private let limits: HTTPLimits
    // The three properties mutated per line skip dynamic exclusivity checks: measured, the
    // checks cost as much as the parsing itself, and the parser is confined to one thread
    // and never re-entered, so no access can overlap.
    @exclusivity(unchecked) private var table: HeaderFieldTable
    @exclusivity(unchecked) private var cursor: HeadCursor
    private var stage = Stage.reading
    /// absolute-form targets only: the authority, compared with Host once the head is read.
    /// An HTTP/1.0 request may come without Host: the proxy then routes by this authority
    /// and sends it upstream as Host.
    public private(set) var targetAuthority: ByteSpan?
    /// The Content-Length value, once its field was read.
    private var contentLength: UInt64?
    /// A Transfer-Encoding field was read (it can only be exactly "chunked").
    private var chunked = false
    @exclusivity(unchecked) private var connection = ConnectionOptions()

    // Valid after `.complete`.

    /// The method, `.other` for methods not listed (see `methodSpan`).
    public private(set) var method = HTTPMethod.other
    /// The method's bytes.
    public private(set) var methodSpan = ByteSpan(start: 0, count: 0)
    /// The request-target's bytes, exactly as received.
    public private(set) var targetSpan = ByteSpan(start: 0, count: 0)
    /// The target's path: origin-form up to '?'; absolute-form, the path after the authority
    /// up to '?' (when that is empty, a one-byte span reading "/": the second slash of "://");
    /// for "*", the "*"; for CONNECT's authority-form, an empty span at the target's start.
    public private(set) var pathSpan = ByteSpan(start: 0, count: 0)
    /// The target's query with its '?' (origin- and absolute-form), else empty. The target
    /// forwarded upstream is exactly `pathSpan` followed by `querySpan`.
    public private(set) var querySpan = ByteSpan(start: 0, count: 0)
    /// The protocol version.
    public private(set) var version = HTTPVersion.http11
    /// Number of field lines; fields are `header(0..<headerCount)`.
    public var headerCount: Int { table.count }
    /// The Host field's value (trimmed), if present; always present for HTTP/1.1.
    public private(set) var hostSpan: ByteSpan?
    /// The host the request is for: Host, or for an HTTP/1.0 absolute-form request without
    /// one, the target's authority (what routing matches and the upstream gets as Host).
    public var requestedHostSpan: ByteSpan? { hostSpan ?? targetAuthority }
    /// The first User-Agent field's value, if any (the inventory's client kind).
    public private(set) var userAgentSpan: ByteSpan?
    /// The first Cookie field's value, if any (a head decoded by HTTP/2 has the crumbs
    /// joined into one field): what sticky cookies and cookie cohorts read.
    public private(set) var cookieSpan: ByteSpan?
    /// How the request body is delimited: `.none`, `.contentLength(n)` or `.chunked`.
    public private(set) var framing = BodyFraming.none
    /// Whether the connection may carry another request: HTTP/1.1 unless "Connection: close";
    /// HTTP/1.0 only with "Connection: keep-alive" (and no "close").
    public private(set) var keepAlive = false
    /// HTTP/1.1, a Connection token "upgrade", and an Upgrade field.
    public private(set) var upgrade = false
    /// The Upgrade field's value, if present (whether or not `upgrade` is true).
    public private(set) var upgradeSpan: ByteSpan?
    /// "Expect: 100-continue" in an HTTP/1.1 request (RFC 9110 §10.1.1 says to ignore it
    /// in HTTP/1.0).
    public private(set) var expectContinue = false

    /// Allocates the field table (`limits.maxHeaderCount` fields) once, for all messages.
    public init(limits: HTTPLimits = .default) {
        self.limits = limits
        table = HeaderFieldTable(capacity: limits.maxHeaderCount)
        cursor = HeadCursor(limits: limits)
    }

    deinit {
        table.deallocate()
    }

    /// Prepares for the next message on the same connection, without allocating.
    public func reset() {
        stage = .reading
        isDecoded = false
        cursor.reset()
        table.removeAll()
        targetAuthority = nil
        contentLength = nil
        chunked = false
        connection = ConnectionOptions()
        method = .other
        methodSpan = ByteSpan(start: 0, count: 0)
        targetSpan = ByteSpan(start: 0, count: 0)
        pathSpan = ByteSpan(start: 0, count: 0)
        querySpan = ByteSpan(start: 0, count: 0)
        version = .http11
        hostSpan = nil
        userAgentSpan = nil
        cookieSpan = nil
        framing = .none
        keepAlive = false
        upgrade = false
        upgradeSpan = nil
        expectContinue = false
    }

    /// The field at `i` (0 ≤ i < headerCount), as spans into the message.
    public func header(_ i: Int) -> HeaderField {
        table[i]
    }

    /// Reads as much of the head as `bytes` (the message from its first byte) holds. Once it
    /// answered `.complete` or `.error`, it answers the same until `reset()`.
    public func parse(_ bytes: UnsafeRawBufferPointer) -> HeadParseResult {
        switch stage {
        case .complete(let headLength): return .complete(headLength: headLength)
        case .failed(let error): return .error(error)
        case .reading: break
        }
        do throws(ParseFailure) {
            while true {
                switch try cursor.next(bytes) {
                case .needMore:
                    return .needMore
                case .startLine(let cr):
                    try readRequestLine(bytes, cr: cr)
                case .fieldLine(let start, let cr, let plain):
                    try readField(bytes, start: start, cr: cr, plain: plain)
                case .end(let headLength):
                    try finish(bytes, end: headLength - 2)
                    stage = .complete(headLength: headLength)
                    return .complete(headLength: headLength)
                }
            }
        } catch {
            let publicError = error.publicError()
            stage = .failed(publicError)
            return .error(publicError)
        }
    }

    /// `method SP request-target SP HTTP-version`, in `[0, cr)`.
    private func readRequestLine(_ b: UnsafeRawBufferPointer, cr: Int) throws(ParseFailure) {
        guard cr > 0 else {
            throw ParseFailure(400, "empty line before the request line (leading CRLF is not accepted)", at: 0)
        }
        var i = 0
        while i < cr, b[i] != Byte.sp { i += 1 }
        try readMethod(b, ByteSpan(start: 0, count: i))
        guard i < cr else { throw ParseFailure(400, "request line without a target", at: i) }

        let targetStart = i + 1
        var j = targetStart
        while j < cr, b[j] != Byte.sp { j += 1 }
        guard j > targetStart else {
            throw ParseFailure(400, "empty request target (parts must be separated by exactly one SP)", at: targetStart)
        }
        try checkTargetBytes(b, ByteSpan(from: targetStart, to: j))
        guard j < cr else { throw ParseFailure(400, "request line without an HTTP version", at: j) }
        version = try HTTPVersion.parse(b[span: ByteSpan(from: j + 1, to: cr)], at: j + 1)
        try readTarget(b, ByteSpan(from: targetStart, to: j))
    }

    /// The method's bytes: a token of at most `maxMethodBytes`.
    private func readMethod(_ b: UnsafeRawBufferPointer, _ span: ByteSpan) throws(ParseFailure) {
        for i in span.start..<span.end where !ByteClass.isTokenChar(b[i]) {
            throw ParseFailure(400, "invalid byte in the method", at: i)
        }
        guard span.count > 0 else { throw ParseFailure(400, "empty method", at: span.start) }
        guard span.count <= Self.maxMethodBytes else {
            throw ParseFailure(400, "method longer than 32 bytes", at: span.start + Self.maxMethodBytes)
        }
        methodSpan = span
        method = HTTPMethod.classify(b[span: methodSpan])
    }

    private func checkTargetBytes(_ b: UnsafeRawBufferPointer, _ span: ByteSpan) throws(ParseFailure) {
        for j in span.start..<span.end where !ByteClass.isTargetChar(b[j]) {
            throw ParseFailure(400, "invalid byte in the request target", at: j)
        }
    }

    /// The request-target (its bytes checked): its form, path, query and authority.
    private func readTarget(_ b: UnsafeRawBufferPointer, _ span: ByteSpan) throws(ParseFailure) {
        targetSpan = span
        let target = try RequestTarget.analyse(b, targetSpan, method: method)
        pathSpan = target.path
        querySpan = target.query
        targetAuthority = target.authority
    }

    private func readField(_ b: UnsafeRawBufferPointer, start: Int, cr: Int, plain: Bool) throws(ParseFailure) {
        let (name, value) = try FieldLine.parse(b, start: start, cr: cr, plain: plain)
        try take(b, name: name, value: value, at: start)
    }

    /// Classifies one field and applies its rules (one Host, one Content-Length, never with
    /// Transfer-Encoding…); `at` is where a refusal points.
    private func take(_ b: UnsafeRawBufferPointer, name: ByteSpan, value: ByteSpan, at start: Int) throws(ParseFailure) {
        let known = try KnownField.classify(b[span: name], at: name.start)
        guard table.append(HeaderField(name: name, value: value, role: known.role)) else {
            throw ParseFailure(431, "more header fields than the limit", at: start)
        }
        switch known {
        case .host:
            guard hostSpan == nil else { throw ParseFailure(400, "more than one Host field", at: start) }
            try Authority.check(b, value, requirePort: false)
            hostSpan = value
        case .contentLength:
            guard contentLength == nil else {
                throw ParseFailure(400, "more than one Content-Length field", at: start)
            }
            guard !chunked else { throw ParseFailure(400, "both Transfer-Encoding and Content-Length", at: start) }
            contentLength = try ContentLength.parse(b, value)
        case .transferEncoding:
            guard version == .http11 else {
                throw ParseFailure(400, "Transfer-Encoding in an HTTP/1.0 request", at: start)
            }
            guard !chunked else { throw ParseFailure(400, "more than one Transfer-Encoding field", at: start) }
            guard contentLength == nil else {
                throw ParseFailure(400, "both Content-Length and Transfer-Encoding", at: start)
            }
            try TransferEncoding.checkRequest(b, value)
            chunked = true
        case .connection:
            try connection.add(b, value)
        case .upgrade:
            guard upgradeSpan == nil else { throw ParseFailure(400, "more than one Upgrade field", at: start) }
            upgradeSpan = value
        case .expect:
            guard ASCII.equalsIgnoringCase(b[span: value], "100-continue") else {
                throw ParseFailure(417, "the only expectation supported is 100-continue", at: value.start)
            }
            expectContinue = version == .http11
        case .userAgent:
            if userAgentSpan == nil { userAgentSpan = value }
        case .cookie:
            if cookieSpan == nil { cookieSpan = value }
        case .unknown, .otherHopByHop, .xForwardedFor, .xForwardedProto, .forwarded, .xForwardedHost, .xRealIP, .clientIdentity:
            break
        }
    }

    // MARK: a head decoded by HTTP/2

    /// The head was decoded by HTTP/2 (`beginDecoded`): its names and values sit apart in a
    /// buffer of their own, not as `name: value` lines of a text head.
    public private(set) var isDecoded = false

    /// Starts a request head whose fields an HTTP/2 session already decoded (HPACK), so
    /// nothing is rendered as HTTP/1.1 text and parsed a second time. `bytes` holds every
    /// name and value the spans point into (it may grow between calls, its start fixed).
    /// The same rules as for a text head apply to what the spans hold: method and target
    /// bytes, the target's form, and every field through `addDecodedField`. The head is
    /// treated as HTTP/1.1 without keep-alive (one exchange per stream).
    public func beginDecoded(_ bytes: UnsafeRawBufferPointer, method: ByteSpan, target: ByteSpan) -> HeadParseResult? {
        reset()
        isDecoded = true
        do throws(ParseFailure) {
            // The limit of a text request line holds for what would have been one.
            guard method.count + target.count + 10 <= limits.maxRequestLineBytes else {
                throw ParseFailure(414, "start line longer than the limit", at: target.start)
            }
            try readMethod(bytes, method)
            guard target.count > 0 else { throw ParseFailure(400, "empty :path", at: target.start) }
            try checkTargetBytes(bytes, target)
            try readTarget(bytes, target)
            return nil
        } catch {
            return fail(error)
        }
    }

    /// One decoded field (names arrive lower-cased and without connection-specific fields;
    /// values are still checked byte by byte, as in a text head). nil: go on.
    public func addDecodedField(_ bytes: UnsafeRawBufferPointer, name: ByteSpan, value: ByteSpan) -> HeadParseResult? {
        if case .failed(let error) = stage { return .error(error) }
        do throws(ParseFailure) {
            guard name.count > 0 else { throw ParseFailure(400, "empty field name", at: name.start) }
            for i in name.start..<name.end where !ByteClass.isTokenChar(bytes[i]) {
                throw ParseFailure(400, "invalid byte in a field name", at: i)
            }
            if let bad = WordScan.firstNonFieldValueByte(bytes, from: value.start, to: value.end) {
                throw ParseFailure(400, "control byte in a field value", at: bad)
            }
            try take(bytes, name: name, value: value, at: name.start)
            return nil
        } catch {
            return fail(error)
        }
    }

    /// Ends a decoded head. `bodyByStreamEnd`: a body follows without a content-length,
    /// delimited by the end of its stream; it is framed `.chunked` for the upstream.
    public func finishDecoded(_ bytes: UnsafeRawBufferPointer, bodyByStreamEnd: Bool) -> HeadParseResult {
        if case .failed(let error) = stage { return .error(error) }
        do throws(ParseFailure) {
            try finish(bytes, end: bytes.count)
        } catch {
            return fail(error)
        }
        if bodyByStreamEnd && contentLength == nil { framing = .chunked }
        keepAlive = false
        upgrade = false
        stage = .complete(headLength: 0)
        return .complete(headLength: 0)
    }

    private func fail(_ error: ParseFailure) -> HeadParseResult {
        let publicError = error.publicError()
        stage = .failed(publicError)
        return .error(publicError)
    }

    /// Whole-head checks, once the empty line at `end` was read.
    private func finish(_ b: UnsafeRawBufferPointer, end: Int) throws(ParseFailure) {
        if version == .http11 && hostSpan == nil {
            throw ParseFailure(400, "HTTP/1.1 request without Host", at: end)
        }
        if let authority = targetAuthority, let host = hostSpan,
           !ASCII.equalsIgnoringCase(b[span: authority], b[span: host]) {
            throw ParseFailure(400, "Host differs from the authority of the absolute-form target", at: host.start)
        }
        try connection.markNominatedFields(b, table)
        if chunked {
            framing = .chunked
        } else if let length = contentLength {
            framing = .contentLength(length)
        } else {
            framing = .none
        }
        keepAlive = !connection.close && (version == .http11 || connection.keepAlive)
        if let span = upgradeSpan, connection.upgrade, version == .http11 {
            upgrade = !Self.namesH2C(b[span: span])
        } else {
            upgrade = false
        }
    }

    /// Whether an Upgrade value names `h2c` among its protocols. That upgrade is never
    /// passed on (RFC 9113 §3.1 retired it): a backend that took it would turn the
    /// connection into an HTTP/2 tunnel whose later requests skip routing, the write hold
    /// and the access log. The request goes on as an ordinary one, without Upgrade.
    @inline(never)
    static func namesH2C(_ value: UnsafeRawBufferPointer) -> Bool {
        // Token by token between commas, blanks trimmed, in place: no array per request.
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count && value[end] != UInt8(ascii: ",") { end += 1 }
            var a = start, b = end
            while a < b && (value[a] == 0x20 || value[a] == 0x09) { a += 1 }
            while b > a && (value[b - 1] == 0x20 || value[b - 1] == 0x09) { b -= 1 }
            if b - a == 3 && value[a] | 0x20 == UInt8(ascii: "h") && value[a + 1] == UInt8(ascii: "2")
                && value[a + 2] | 0x20 == UInt8(ascii: "c") {
                return true
            }
            start = end + 1
        }
        return false
    }
}
