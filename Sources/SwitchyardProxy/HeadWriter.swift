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

    struct RequestExtras {
        /// The client's address as written in X-Forwarded-For ("10.0.0.1", "::1").
        var clientIP: UnsafeRawBufferPointer
        /// The Forwarded element for the client (`for=10.0.0.1`, `for="[::1]"`).
        var forwardedFor: UnsafeRawBufferPointer
        var scheme: StaticString
        /// Name of the header that carries the table generation, if configured (empty: none).
        var generationHeader: UnsafeRawBufferPointer
        var generation: UInt64
    }

    /// The request head for the upstream. Returns false if it did not fit (cannot happen
    /// with the head limits below the buffer size; checked anyway).
    static func writeRequestHead(_ out: IOBuffer, _ base: UnsafeRawPointer, _ p: HTTPRequestParser, _ x: RequestExtras) -> Bool {
        out.append(slice(base, p.methodSpan))
        out.append(byte: UInt8(ascii: " "))
        // Origin form towards the upstream: an absolute-form target keeps its path and query.
        out.append(UnsafeRawBufferPointer(start: base + p.pathSpan.start, count: p.targetSpan.end - p.pathSpan.start))
        out.append(" HTTP/1.1\r\n")
        var sawForwardedFor = false
        var sawForwarded = false
        for i in 0..<p.headerCount {
            let field = p.header(i)
            switch field.role {
            case .other, .host:
                appendField(out, base, field)
            case .xForwardedFor:
                sawForwardedFor = true
            case .forwarded:
                sawForwarded = true
            case .hopByHop, .contentLength, .xForwardedProto:
                continue
            }
        }
        // One X-Forwarded-For and one Forwarded: earlier hops first, then this client.
        out.append("X-Forwarded-For: ")
        if sawForwardedFor { appendJoined(out, base, p, role: .xForwardedFor) }
        out.append(x.clientIP)
        out.append("\r\nX-Forwarded-Proto: ")
        out.append(x.scheme)
        out.append("\r\nForwarded: ")
        if sawForwarded { appendJoined(out, base, p, role: .forwarded) }
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
        for i in 0..<p.headerCount {
            let field = p.header(i)
            if field.role == .hopByHop { continue }
            appendField(out, base, field)
        }
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
                out.append(x.cookieName)
                out.append(byte: UInt8(ascii: "="))
                out.append(hex: x.cookieValue, width: 16)
                out.append("; Path=/; HttpOnly; SameSite=Lax")
                if x.secureCookie { out.append("; Secure") }
                out.append("\r\n")
            }
        }
        guard out.writableCount >= 2 else { return false }
        out.append("\r\n")
        return true
    }

    /// A short error answer of our own. `close` adds `Connection: close`.
    static func writeError(_ out: IOBuffer, status: Int, close: Bool) {
        let (line, body): (StaticString, StaticString)
        switch status {
        case 400: (line, body) = ("400 Bad Request", "400 Bad Request\n")
        case 404: (line, body) = ("404 Not Found", "404 Not Found: no route for this request\n")
        case 408: (line, body) = ("408 Request Timeout", "408 Request Timeout\n")
        case 413: (line, body) = ("413 Content Too Large", "413 Content Too Large\n")
        case 414: (line, body) = ("414 URI Too Long", "414 URI Too Long\n")
        case 417: (line, body) = ("417 Expectation Failed", "417 Expectation Failed\n")
        case 431: (line, body) = ("431 Request Header Fields Too Large", "431 Request Header Fields Too Large\n")
        case 501: (line, body) = ("501 Not Implemented", "501 Not Implemented\n")
        case 502: (line, body) = ("502 Bad Gateway", "502 Bad Gateway\n")
        case 503: (line, body) = ("503 Service Unavailable", "503 Service Unavailable\n")
        case 504: (line, body) = ("504 Gateway Timeout", "504 Gateway Timeout\n")
        case 505: (line, body) = ("505 HTTP Version Not Supported", "505 HTTP Version Not Supported\n")
        default: (line, body) = ("500 Internal Server Error", "500 Internal Server Error\n")
        }
        out.ensureWritable(256)
        out.append("HTTP/1.1 ")
        out.append(line)
        out.append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
        out.append(decimal: UInt64(body.utf8CodeUnitCount))
        out.append(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n")
        out.append(body)
    }
}
