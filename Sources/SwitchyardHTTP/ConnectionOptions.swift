/// What the Connection fields of one head say (RFC 9110 §7.6.1).
struct ConnectionOptions {
    /// Some Connection field was seen.
    var present = false
    /// A "close" token was seen.
    var close = false
    /// A "keep-alive" token was seen.
    var keepAlive = false
    /// An "upgrade" token was seen.
    var upgrade = false
    /// A token other than "keep-alive" was seen: one that may name a field to drop. Without
    /// one (`Connection: keep-alive`, what nearly every backend sends) no field is looked at.
    var namesOtherFields = false

    /// Reads one Connection field's tokens. Elements must be tokens; empty elements are
    /// tolerated, as RFC 9110 §5.6.1 asks of recipients. Else 400.
    mutating func add(_ b: UnsafeRawBufferPointer, _ value: ByteSpan) throws(ParseFailure) {
        present = true
        // The usual whole value, answered without walking it as a list.
        if value.count == 10, ASCII.equalsIgnoringCase(b[span: value], "keep-alive") {
            keepAlive = true
            return
        }
        var list = FieldList(b, value)
        while let element = list.next() {
            if element.count == 0 { continue }
            guard FieldList.isToken(b, element) else {
                throw ParseFailure(400, "Connection must be a list of tokens", at: element.start)
            }
            let token = b[span: element]
            if ASCII.equalsIgnoringCase(token, "keep-alive") {
                keepAlive = true
                continue
            }
            namesOtherFields = true
            if ASCII.equalsIgnoringCase(token, "close") {
                close = true
            } else if ASCII.equalsIgnoringCase(token, "upgrade") {
                upgrade = true
            }
        }
    }

    /// Gives every `.other` field named by a Connection token the role `.hopByHop`. A token
    /// naming Host or Content-Length is refused (400): dropping either would change how the
    /// message is routed or framed, a known smuggling trick. The forwarding fields (X-Forwarded-*,
    /// Forwarded, X-Real-IP, …) keep their roles: the proxy rewrites them anyway, and letting a client strip
    /// them would hide its address from the backend. O(tokens × fields), without allocation.
    func markNominatedFields(_ b: UnsafeRawBufferPointer, _ table: HeaderFieldTable) throws(ParseFailure) {
        guard present, namesOtherFields else { return }
        for c in 0..<table.count {
            let connection = table[c]
            guard connection.role == .hopByHop, ASCII.equalsIgnoringCase(b[span: connection.name], "connection")
            else { continue }
            var list = FieldList(b, connection.value)
            while let element = list.next() {
                if element.count == 0 { continue }
                let token = b[span: element]
                // The usual token names Keep-Alive, which is hop-by-hop already: nothing to
                // mark, and no pass over every field for it.
                if ASCII.equalsIgnoringCase(token, "keep-alive") { continue }
                for f in 0..<table.count {
                    var field = table[f]
                    guard ASCII.equalsIgnoringCase(b[span: field.name], token) else { continue }
                    switch field.role {
                    case .other:
                        field.role = .hopByHop
                        table[f] = field
                    case .host, .contentLength:
                        throw ParseFailure(400, "Connection must not name Host or Content-Length", at: element.start)
                    case .hopByHop, .xForwardedFor, .xForwardedProto, .forwarded, .xForwardedHost, .xRealIP, .clientIdentity:
                        // Already dropped, or rewritten by the proxy whatever the client says.
                        break
                    }
                }
            }
        }
    }
}
