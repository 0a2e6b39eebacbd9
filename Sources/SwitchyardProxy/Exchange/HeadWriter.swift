import SwitchyardHTTP

/// Writes the heads Switchyard sends: the request head towards the upstream and the
/// response head towards the downstream, rebuilt from the parsed head's spans (hop-by-hop
/// fields dropped, framing and forwarding fields written by us), and short error answers.
enum HeadWriter {
    @inline(__always)
    static func slice(_ base: UnsafeRawPointer, _ span: ByteSpan) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + span.start, count: span.count)
    }

    @inline(__always)
    static func appendField(_ out: IOBuffer, _ base: UnsafeRawPointer, _ field: HeaderField) {
        out.append(slice(base, field.name))
        out.append(": ")
        out.append(slice(base, field.value))
        out.append("\r\n")
    }

    /// Copies the fields a text head forwards, joining those that stand back to back in
    /// the received head as exactly `name: value` CRLF (one SP after the colon, no
    /// whitespace after the value) into one append: a response's usual fields go out in one
    /// copy instead of four appends each. `flush` before writing anything else. For a text
    /// head only (`lines`): the spans of a head decoded by HTTP/2 point into a buffer of
    /// names and values, not lines.
    struct FieldCopier {
        private let base: UnsafeRawPointer
        private let lines: Bool
        /// The pending run of whole lines, `[start, end)` in the head; empty when equal.
        private var start = 0
        private var end = 0

        init(_ base: UnsafeRawPointer, lines: Bool) {
            self.base = base
            self.lines = lines
        }

        /// The parser ended the name at its colon and the value before CR or whitespace; a
        /// value holds no CR (a bare CR is refused), so a CR right after it is the line's.
        @inline(__always)
        private func isWholeLine(_ field: HeaderField) -> Bool {
            lines && field.value.start == field.name.end &+ 2
                && base.load(fromByteOffset: field.name.end &+ 1, as: UInt8.self) == UInt8(ascii: " ")
                && base.load(fromByteOffset: field.value.end, as: UInt8.self) == UInt8(ascii: "\r")
        }

        @inline(__always)
        mutating func add(_ out: IOBuffer, _ field: HeaderField) {
            if isWholeLine(field) {
                let lineEnd = field.value.end &+ 2
                if field.name.start == end && end != start {
                    end = lineEnd
                    return
                }
                flush(out)
                start = field.name.start
                end = lineEnd
                return
            }
            flush(out)
            appendField(out, base, field)
        }

        @inline(__always)
        mutating func flush(_ out: IOBuffer) {
            guard end != start else { return }
            out.append(UnsafeRawBufferPointer(start: base + start, count: end &- start))
            start = 0
            end = 0
        }
    }

    struct RequestExtras {
        /// The client's address as written in X-Forwarded-For and X-Real-IP ("10.0.0.1", "::1").
        var clientIP: UnsafeRawBufferPointer
        /// The Forwarded element for the client (`for=10.0.0.1`, `for="[::1]"`).
        var forwardedFor: UnsafeRawBufferPointer
        var scheme: StaticString
        /// Name of the header that carries the table generation, if configured (empty: none).
        var generationHeader: UnsafeRawBufferPointer
        var generation: UInt64
        /// The peer is listed in `trust-forwarded`: its forwarding fields are kept (and
        /// X-Forwarded-For / Forwarded appended to). Otherwise the proxy is the edge.
        var trustedPeer: Bool
        /// The request's ID (`RequestID`: the client's sane one or ours), sent as
        /// `X-Request-ID` in place of every client copy.
        var requestID: UnsafeRawBufferPointer
        /// The Host for a request that names none (HTTP/1.0 in origin form): the address the
        /// client connected to. Empty when the request names its host.
        var fallbackHost = UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// The request head for the upstream. Returns false if it did not fit (cannot happen
    /// with the head limits below the buffer size; checked anyway).
    ///
    /// Forwarding fields: from a peer that is not trusted, every client copy of
    /// X-Forwarded-For/-Proto/-Host, Forwarded, X-Real-IP, the `HeaderRole.clientIdentity`
    /// fields and the generation header is dropped, and the proxy writes its own
    /// X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Forwarded and X-Real-IP — a
    /// client cannot make a backend believe another address, scheme or host. From a trusted
    /// peer, X-Forwarded-For and Forwarded get this hop appended, and the other fields are
    /// kept (ours written only where the peer sent none). The generation header is always ours;
    /// X-Switchyard-Mirror is ours, or a trusted peer's.
    static func writeRequestHead(_ out: IOBuffer, _ base: UnsafeRawPointer, _ p: HTTPRequestParser, _ x: RequestExtras) -> Bool {
        out.append(slice(base, p.methodSpan))
        out.append(byte: UInt8(ascii: " "))
        // Origin form towards the upstream: exactly the path the router saw, then the query.
        out.append(slice(base, p.pathSpan))
        out.append(slice(base, p.querySpan))
        out.append(" HTTP/1.1\r\n")
        var sawForwardedFor = false
        var sawForwarded = false
        var keptProto = false, keptHost = false, keptRealIP = false
        let trusted = x.trustedPeer
        let generationName = x.generationHeader
        var copier = FieldCopier(base, lines: !p.isDecoded)
        for i in 0..<p.headerCount {
            let field = p.header(i)
            switch field.role {
            case .other:
                // A client's own copy of the generation header would sit beside ours.
                // Spelled with `_` too: backends that fold `_` into `-` would read it as ours.
                if generationName.count > 0, field.name.count == generationName.count,
                   ASCII.equalsAsFieldName(slice(base, field.name), generationName) {
                    continue
                }
                // Ours replaces the client's (the same value when it was sane).
                if RequestID.isHeaderName(slice(base, field.name)) { continue }
                // Only a proxy marks a mirrored copy: a backend that treats marked requests
                // as shadows (no persistence, no outbound messages) must never see a real
                // user's request marked, nor a copy marked twice. A trusted forwarder (a
                // Switchyard in front, mirroring to this one) keeps its mark.
                if !trusted, ASCII.equalsAsFieldName(slice(base, field.name), "x-switchyard-mirror") { continue }
                copier.add(out, field)
            case .host:
                copier.add(out, field)
            case .xForwardedFor:
                sawForwardedFor = true
            case .forwarded:
                sawForwarded = true
            case .xForwardedProto:
                if trusted { keptProto = true ; copier.add(out, field) }
            case .xForwardedHost:
                if trusted { keptHost = true ; copier.add(out, field) }
            case .xRealIP:
                if trusted { keptRealIP = true ; copier.add(out, field) }
            case .clientIdentity:
                if trusted { copier.add(out, field) }
            case .hopByHop, .contentLength:
                continue
            }
        }
        copier.flush(out)
        // HTTP/1.0 may leave Host out of an absolute-form request: the target's authority
        // is the host it asked for (and the one it was routed by).
        let host = p.requestedHostSpan
        if p.hostSpan == nil, let host {
            out.append("Host: ")
            out.append(slice(base, host))
            out.append("\r\n")
        } else if host == nil && x.fallbackHost.count > 0 {
            // HTTP/1.0 without Host: HTTP/1.1 requires one (RFC 9110 §7.2), and a backend
            // answers 400 and closes without it.
            out.append("Host: ")
            out.append(x.fallbackHost)
            out.append("\r\n")
        }
        // One X-Forwarded-For and one Forwarded: trusted earlier hops first, then this client.
        out.append("X-Forwarded-For: ")
        if trusted && sawForwardedFor { appendJoined(out, base, p, role: .xForwardedFor) }
        out.append(x.clientIP)
        if !keptRealIP {
            out.append("\r\nX-Real-IP: ")
            out.append(x.clientIP)
        }
        if !keptProto {
            out.append("\r\nX-Forwarded-Proto: ")
            out.append(x.scheme)
        }
        if !keptHost, let host {
            out.append("\r\nX-Forwarded-Host: ")
            out.append(slice(base, host))
        }
        out.append("\r\nForwarded: ")
        if trusted && sawForwarded { appendJoined(out, base, p, role: .forwarded) }
        out.append(x.forwardedFor)
        out.append(";proto=")
        out.append(x.scheme)
        out.append("\r\n")
        switch p.framing {
        case .contentLength(let n):
            out.append("Content-Length: ")
            out.append(decimal: n)
            out.append("\r\n")
        case .chunked:
            out.append("Transfer-Encoding: chunked\r\n")
        case .none, .untilClose:
            break
        }
        if p.upgrade, let upgrade = p.upgradeSpan {
            out.append("Connection: upgrade\r\nUpgrade: ")
            out.append(slice(base, upgrade))
            out.append("\r\n")
        }
        if x.requestID.count > 0 {
            out.append("X-Request-ID: ")
            out.append(x.requestID)
            out.append("\r\n")
        }
        if x.generationHeader.count > 0 {
            out.append(x.generationHeader)
            out.append(": ")
            out.append(decimal: x.generation)
            out.append("\r\n")
        }
        guard out.writableCount >= 2 else { return false }
        out.append("\r\n")
        return true
    }

    private static func appendJoined(_ out: IOBuffer, _ base: UnsafeRawPointer, _ p: HTTPRequestParser, role: HeaderRole) {
        for i in 0..<p.headerCount where p.header(i).role == role {
            out.append(slice(base, p.header(i).value))
            out.append(", ")
        }
    }

    struct ResponseExtras {
        var clientIsHTTP10: Bool
        var closeAfter: Bool
        var chunkToClient: Bool
        var upgrade: Bool
        /// Sticky cookie to issue: name (empty: none) and its 64-bit token.
        var cookieName: UnsafeRawBufferPointer
        var cookieValue: UInt64
        var secureCookie: Bool
    }

    /// The response head for the downstream (also used for 1xx interim answers).
    static func writeResponseHead(_ out: IOBuffer, _ base: UnsafeRawPointer, _ p: HTTPResponseParser, _ x: ResponseExtras) -> Bool {
        out.append("HTTP/1.1 ")
        out.append(decimal: UInt64(p.status))
        out.append(byte: UInt8(ascii: " "))
        out.append(slice(base, p.reasonSpan))
        out.append("\r\n")
        var copier = FieldCopier(base, lines: true)
        for i in 0..<p.headerCount {
            let field = p.header(i)
            if field.role == .hopByHop { continue }
            copier.add(out, field)
        }
        copier.flush(out)
        if x.upgrade, let upgrade = p.upgradeSpan {
            out.append("Connection: upgrade\r\nUpgrade: ")
            out.append(slice(base, upgrade))
            out.append("\r\n")
        } else if p.status >= 200 {
            if x.chunkToClient { out.append("Transfer-Encoding: chunked\r\n") }
            if x.closeAfter {
                out.append("Connection: close\r\n")
            } else if x.clientIsHTTP10 {
                out.append("Connection: keep-alive\r\n")
            }
            if x.cookieName.count > 0 {
                out.append("Set-Cookie: ")
                appendCookie(out, name: x.cookieName, value: x.cookieValue, secure: x.secureCookie)
                out.append("\r\n")
                if x.secureCookie {
                    out.append("Set-Cookie: ")
                    appendLegacyCookie(out, name: x.cookieName, value: x.cookieValue)
                    out.append("\r\n")
                }
            }
        }
        guard out.writableCount >= 2 else { return false }
        out.append("\r\n")
        return true
    }

    /// The sticky cookie's Set-Cookie value: the 64-bit token in hex, for every path, out of
    /// scripts' reach, and only over TLS when it came by TLS. Over TLS it is `SameSite=None`:
    /// a single sign-on answer comes back as a form posted from the identity provider's
    /// site, and a `Lax` cookie is not sent on a cross-site POST; the proxy then drew a new
    /// bucket for the login post (the login landing on the other side) and the user was
    /// moved at every login. The cookie is a random bucket token that grants nothing, so
    /// sending it cross-site gives nothing away. Browsers refuse `None` without `Secure`:
    /// over plain HTTP it stays `Lax`.
    ///
    /// It lasts `Max-Age` 400 days (the longest Chrome keeps one): a session cookie was
    /// gone when the browser closed — a ward PC at shift change, a tablet restarted — and
    /// the user drew a new bucket, so mid-canary one in (share) of them moved to the other
    /// system and back. The token is random and grants nothing; it outlives the cutover
    /// harmlessly.
    static func appendCookie(_ out: IOBuffer, name: UnsafeRawBufferPointer, value: UInt64, secure: Bool) {
        out.append(name)
        out.append(byte: UInt8(ascii: "="))
        out.append(hex: value, width: 16)
        out.append(secure ? "; Path=/; Max-Age=34560000; HttpOnly; SameSite=None; Secure" : "; Path=/; Max-Age=34560000; HttpOnly; SameSite=Lax")
    }

    /// Over TLS, the fallback beside it: `NAME-legacy`, the same token, no SameSite. Some
    /// browsers mistreat `SameSite=None`: Chrome 51–66 and old UC Browser refuse the cookie
    /// (no stickiness at all), Safari on iOS 12 and macOS 10.14 treats it as `Strict` (not
    /// sent on the identity provider's cross-site POST: the login drew a new bucket, the
    /// user moved sides — the ward iPads that cannot update). They take and send this one;
    /// browsers of today keep it `Lax` by default and send the first (`stickyCookie`).
    static func appendLegacyCookie(_ out: IOBuffer, name: UnsafeRawBufferPointer, value: UInt64) {
        out.append(name)
        out.append("-legacy")   // CompiledRoute.legacyCookieSuffix
        out.append(byte: UInt8(ascii: "="))
        out.append(hex: value, width: 16)
        out.append("; Path=/; Max-Age=34560000; HttpOnly; Secure")
    }

    /// A short error answer of our own. `close` adds `Connection: close`; `headOnly` (a
    /// HEAD request's answer) leaves the body out, its length still said.
    static func writeError(_ out: IOBuffer, status: Int, close: Bool, headOnly: Bool = false) {
        let (line, body) = errorText(status)
        out.ensureWritable(256)
        out.append("HTTP/1.1 ")
        out.append(line)
        out.append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
        out.append(decimal: UInt64(body.utf8CodeUnitCount))
        out.append(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n")
        if !headOnly { out.append(body) }
    }

    /// The status line's text and the body of our own answer with `status`.
    static func errorText(_ status: Int) -> (line: StaticString, body: StaticString) {
        let (line, body): (StaticString, StaticString)
        switch status {
        case 400: (line, body) = ("400 Bad Request", "400 Bad Request\n")
        case 404: (line, body) = ("404 Not Found", "404 Not Found: no route for this request\n")
        case 408: (line, body) = ("408 Request Timeout", "408 Request Timeout\n")
        case 413: (line, body) = ("413 Content Too Large", "413 Content Too Large\n")
        case 414: (line, body) = ("414 URI Too Long", "414 URI Too Long\n")
        case 417: (line, body) = ("417 Expectation Failed", "417 Expectation Failed\n")
        case 421: (line, body) = ("421 Misdirected Request", "421 Misdirected Request: this connection's certificate is not the one for this host\n")
        case 431: (line, body) = ("431 Request Header Fields Too Large", "431 Request Header Fields Too Large\n")
        case 501: (line, body) = ("501 Not Implemented", "501 Not Implemented\n")
        case 502: (line, body) = ("502 Bad Gateway", "502 Bad Gateway\n")
        case 503: (line, body) = ("503 Service Unavailable", "503 Service Unavailable\n")
        case 504: (line, body) = ("504 Gateway Timeout", "504 Gateway Timeout\n")
        case 505: (line, body) = ("505 HTTP Version Not Supported", "505 HTTP Version Not Supported\n")
        default: (line, body) = ("500 Internal Server Error", "500 Internal Server Error\n")
        }
        return (line, body)
    }
}
