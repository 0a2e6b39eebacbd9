/// A strict, incremental HTTP/1.1 response-head parser (RFC 9112) that does not allocate per
/// message. Same calling convention as `HTTPRequestParser`.
///
/// Every error has status 502: a malformed response is the upstream's fault, and the caller
/// decides what the client sees. The field rules are the request side's; in addition the
/// status line must be `HTTP-version SP 3DIGIT [SP reason]` with a status in 100…599,
/// Transfer-Encoding must be exactly "chunked" (and absent from HTTP/1.0 responses),
/// Content-Length fields may repeat only with the same value, and CL with TE is refused.
public final class HTTPResponseParser {
    private enum Stage {
        case reading
        case complete(headLength: Int)
        case failed(HTTPParseError)
    }

    /// The status every response error carries.
    private static let errorStatus = 502

    private let limits: HTTPLimits
    // The three properties mutated per line skip dynamic exclusivity checks: measured, the
    // checks cost as much as the parsing itself, and the parser is confined to one thread
    // and never re-entered, so no access can overlap.
    @exclusivity(unchecked) private var table: HeaderFieldTable
    @exclusivity(unchecked) private var cursor: HeadCursor
    private var stage = Stage.reading
    private var contentLength: UInt64?
    private var chunked = false
    @exclusivity(unchecked) private var connection = ConnectionOptions()

    // Valid after `.complete`.

    /// The status code, 100…599.
    public private(set) var status = 0
    /// The reason phrase (may be empty).
    public private(set) var reasonSpan = ByteSpan(start: 0, count: 0)
    /// The protocol version.
    public private(set) var version = HTTPVersion.http11
    /// Number of field lines; fields are `header(0..<headerCount)`.
    public var headerCount: Int { table.count }
    /// How the body is delimited (RFC 9112 §6.3): `.none` for HEAD requests, 1xx, 204, 304
    /// and 2xx to CONNECT; else `.chunked`, `.contentLength(n)`, or `.untilClose`.
    public private(set) var framing = BodyFraming.none
    /// Whether the upstream connection may carry another request: HTTP/1.1 unless
    /// "Connection: close", HTTP/1.0 only with "Connection: keep-alive"; never when the body
    /// runs until close.
    public private(set) var keepAlive = false
    /// The Upgrade field's value, if present (meaningful for 101).
    public private(set) var upgradeSpan: ByteSpan?

    /// Allocates the field table (`limits.maxHeaderCount` fields) once, for all messages.
    public init(limits: HTTPLimits = .default) {
        self.limits = limits
        table = HeaderFieldTable(capacity: limits.maxHeaderCount)
        cursor = HeadCursor(limits: limits)
    }

    deinit {
        table.deallocate()
    }

    /// Prepares for the next message (after a 1xx, the final response), without allocating.
    public func reset() {
        stage = .reading
        cursor.reset()
        table.removeAll()
        contentLength = nil
        chunked = false
        connection = ConnectionOptions()
        status = 0
        reasonSpan = ByteSpan(start: 0, count: 0)
        version = .http11
        framing = .none
        keepAlive = false
        upgradeSpan = nil
    }

    /// The field at `i` (0 ≤ i < headerCount), as spans into the message.
    public func header(_ i: Int) -> HeaderField {
        table[i]
    }

    /// Reads as much of the head as `bytes` (the message from its first byte) holds.
    /// `requestMethod` is the method of the request this answers: HEAD responses have no
    /// body, nor do 2xx answers to CONNECT (a tunnel follows). Once it answered `.complete` or
    /// `.error`, it answers the same until `reset()`.
    public func parse(_ bytes: UnsafeRawBufferPointer, requestMethod: HTTPMethod) -> HeadParseResult {
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
                    try readStatusLine(bytes, cr: cr)
                case .fieldLine(let start, let cr, let plain):
                    try readField(bytes, start: start, cr: cr, plain: plain)
                case .end(let headLength):
                    try finish(bytes, requestMethod: requestMethod)
                    stage = .complete(headLength: headLength)
                    return .complete(headLength: headLength)
                }
            }
        } catch {
            let publicError = error.publicError(status: Self.errorStatus)
            stage = .failed(publicError)
            return .error(publicError)
        }
    }

    /// `HTTP-version SP 3DIGIT [SP reason-phrase]`, in `[0, cr)`. A missing reason (no SP
    /// after the code) is accepted: some servers send it.
    private func readStatusLine(_ b: UnsafeRawBufferPointer, cr: Int) throws(ParseFailure) {
        guard cr > 0 else { throw ParseFailure(502, "empty line before the status line", at: 0) }
        var i = 0
        while i < cr, b[i] != Byte.sp { i += 1 }
        version = try HTTPVersion.parse(b[span: ByteSpan(from: 0, to: i)], at: 0)
        guard i + 4 <= cr else { throw ParseFailure(502, "status line without a 3-digit status", at: i) }
        var code = 0
        for k in (i + 1)...(i + 3) {
            guard ByteClass.isDigit(b[k]) else { throw ParseFailure(502, "status is not 3 digits", at: k) }
            code = code * 10 + Int(b[k] - UInt8(ascii: "0"))
        }
        guard code >= 100 && code <= 599 else { throw ParseFailure(502, "status outside 100...599", at: i + 1) }
        status = code
        let afterCode = i + 4
        if afterCode == cr {
            reasonSpan = ByteSpan(start: cr, count: 0)
            return
        }
        guard b[afterCode] == Byte.sp else { throw ParseFailure(502, "status is not 3 digits", at: afterCode) }
        for k in (afterCode + 1)..<cr where !ByteClass.isFieldValueChar(b[k]) {
            throw ParseFailure(502, "control byte in the reason phrase", at: k)
        }
        reasonSpan = ByteSpan(from: afterCode + 1, to: cr)
    }

    private func readField(_ b: UnsafeRawBufferPointer, start: Int, cr: Int, plain: Bool) throws(ParseFailure) {
        let (name, value) = try FieldLine.parse(b, start: start, cr: cr, plain: plain)
        let known = try KnownField.classify(b[span: name], at: name.start)
        guard table.append(HeaderField(name: name, value: value, role: known.role)) else {
            throw ParseFailure(431, "more header fields than the limit", at: start)
        }
        switch known {
        case .contentLength:
            let length = try ContentLength.parse(b, value)
            if let previous = contentLength, previous != length {
                throw ParseFailure(502, "Content-Length fields disagree", at: start)
            }
            guard !chunked else { throw ParseFailure(502, "both Transfer-Encoding and Content-Length", at: start) }
            contentLength = length
        case .transferEncoding:
            guard version == .http11 else {
                throw ParseFailure(502, "Transfer-Encoding in an HTTP/1.0 response", at: start)
            }
            guard !chunked else { throw ParseFailure(502, "more than one Transfer-Encoding field", at: start) }
            guard contentLength == nil else {
                throw ParseFailure(502, "both Content-Length and Transfer-Encoding", at: start)
            }
            try TransferEncoding.checkResponse(b, value)
            chunked = true
        case .connection:
            try connection.add(b, value)
        case .upgrade:
            guard upgradeSpan == nil else { throw ParseFailure(502, "more than one Upgrade field", at: start) }
            upgradeSpan = value
        case .unknown, .host, .expect, .otherHopByHop, .xForwardedFor, .xForwardedProto, .forwarded, .xForwardedHost, .xRealIP, .clientIdentity, .userAgent, .cookie:
            break
        }
    }

    /// Framing per RFC 9112 §6.3, once the whole head was read.
    private func finish(_ b: UnsafeRawBufferPointer, requestMethod: HTTPMethod) throws(ParseFailure) {
        try connection.markNominatedFields(b, table)
        let bodiless = requestMethod == .head || status < 200 || status == 204 || status == 304
            || (requestMethod == .connect && status < 300)
        if bodiless {
            framing = .none
        } else if chunked {
            framing = .chunked
        } else if let length = contentLength {
            framing = .contentLength(length)
        } else {
            framing = .untilClose
        }
        keepAlive = !connection.close && (version == .http11 || connection.keepAlive) && framing != .untilClose
    }
}
