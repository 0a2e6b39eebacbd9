/// The field names the parsers act on. Classified once per field line, from the name.
enum KnownField {
    case unknown
    case host, contentLength, transferEncoding, connection, upgrade, expect
    /// Hop-by-hop fields with no further meaning to us: Keep-Alive, TE, Trailer, Proxy-Connection.
    case otherHopByHop
    case xForwardedFor, xForwardedProto, forwarded

    /// The role the field starts with (a Connection token may later make it `.hopByHop`).
    var role: HeaderRole {
        switch self {
        case .unknown, .expect: return .other
        case .host: return .host
        case .contentLength: return .contentLength
        case .transferEncoding, .connection, .upgrade, .otherHopByHop: return .hopByHop
        case .xForwardedFor: return .xForwardedFor
        case .xForwardedProto: return .xForwardedProto
        case .forwarded: return .forwarded
        }
    }

    /// Classifies a (valid token) field name, ignoring case.
    ///
    /// A name that spells a framing field with '_' for '-' ("Content_Length",
    /// "Transfer_Encoding") is rejected (400): some servers (CGI-style environments) fold '_'
    /// into '-', so such a field could frame the body behind our back.
    static func classify(_ name: UnsafeRawBufferPointer, at offset: Int) throws(ParseFailure) -> KnownField {
        switch name.count {
        case 2:
            if ASCII.equalsIgnoringCase(name, "te") { return .otherHopByHop }
        case 4:
            if ASCII.equalsIgnoringCase(name, "host") { return .host }
        case 6:
            if ASCII.equalsIgnoringCase(name, "expect") { return .expect }
        case 7:
            if ASCII.equalsIgnoringCase(name, "upgrade") { return .upgrade }
            if ASCII.equalsIgnoringCase(name, "trailer") { return .otherHopByHop }
        case 9:
            if ASCII.equalsIgnoringCase(name, "forwarded") { return .forwarded }
        case 10:
            if ASCII.equalsIgnoringCase(name, "connection") { return .connection }
            if ASCII.equalsIgnoringCase(name, "keep-alive") { return .otherHopByHop }
        case 14:
            if ASCII.equalsIgnoringCase(name, "content-length") { return .contentLength }
            if equalsWithUnderscoreForDash(name, "content-length") {
                throw ParseFailure(400, "field name looks like Content-Length with '_' for '-'", at: offset)
            }
        case 15:
            if ASCII.equalsIgnoringCase(name, "x-forwarded-for") { return .xForwardedFor }
        case 16:
            if ASCII.equalsIgnoringCase(name, "proxy-connection") { return .otherHopByHop }
        case 17:
            if ASCII.equalsIgnoringCase(name, "transfer-encoding") { return .transferEncoding }
            if ASCII.equalsIgnoringCase(name, "x-forwarded-proto") { return .xForwardedProto }
            if equalsWithUnderscoreForDash(name, "transfer-encoding") {
                throw ParseFailure(400, "field name looks like Transfer-Encoding with '_' for '-'", at: offset)
            }
        default:
            break
        }
        return .unknown
    }

    /// Case-insensitive equality where '_' in `name` also matches '-' in `lowercaseLiteral`.
    static func equalsWithUnderscoreForDash(_ name: UnsafeRawBufferPointer, _ lowercaseLiteral: StaticString) -> Bool {
        guard name.count == lowercaseLiteral.utf8CodeUnitCount else { return false }
        let p = lowercaseLiteral.utf8Start
        for i in 0..<name.count {
            var c = ASCII.lowercased(name[i])
            if c == UInt8(ascii: "_") { c = UInt8(ascii: "-") }
            if c != p[i] { return false }
        }
        return true
    }
}
