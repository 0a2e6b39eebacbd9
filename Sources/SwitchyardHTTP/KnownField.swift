/// The field names the parsers act on. Classified once per field line, from the name.
enum KnownField {
    case unknown
    case host, contentLength, transferEncoding, connection, upgrade, expect
    /// Hop-by-hop fields with no further meaning to us: Keep-Alive, TE, Trailer, Proxy-Connection.
    case otherHopByHop
    case xForwardedFor, xForwardedProto, forwarded
    /// Forwarding fields the proxy writes itself or keeps only from trusted peers.
    case xForwardedHost, xRealIP, clientIdentity
    /// User-Agent: an ordinary field, named so the request parser can keep its span for the
    /// inventory (which would otherwise search the head for it on every request).
    case userAgent
    /// Cookie: an ordinary field, named so the request parser can keep its span for sticky
    /// cookies, cookie cohorts and the decision log (`RoutableRequest.cookieHeader`).
    case cookie

    /// The role the field starts with (a Connection token may later make it `.hopByHop`).
    var role: HeaderRole {
        switch self {
        case .unknown, .expect, .userAgent, .cookie: return .other
        case .host: return .host
        case .contentLength: return .contentLength
        case .transferEncoding, .connection, .upgrade, .otherHopByHop: return .hopByHop
        case .xForwardedFor: return .xForwardedFor
        case .xForwardedProto: return .xForwardedProto
        case .forwarded: return .forwarded
        case .xForwardedHost: return .xForwardedHost
        case .xRealIP: return .xRealIP
        case .clientIdentity: return .clientIdentity
        }
    }

    /// Classifies a (valid token) field name, ignoring case.
    ///
    /// The forwarding fields also match when spelled with '_' for '-' ("X_Forwarded_For"):
    /// servers that fold '_' into '-' would read such a field as the real one, so it must be
    /// dropped or rewritten like the real one.
    ///
    /// A name that spells a framing field with '_' for '-' ("Content_Length",
    /// "Transfer_Encoding") is rejected (400): some servers (CGI-style environments) fold '_'
    /// into '-', so such a field could frame the body behind our back.
    static func classify(_ name: UnsafeRawBufferPointer, at offset: Int) throws(ParseFailure) -> KnownField {
        // Length and first letter pick the one or two names a field can be, so a head's
        // other fields (most of it) are known to be none of them without a comparison, and
        // a known one is compared once. ('_' spellings start with the same letter.)
        // (`name[0]`, not `name.first`: the debug build's generic `first` allocates.)
        guard name.count > 0 else { return .unknown }
        switch (name.count, ASCII.lowercased(name[0])) {
        case (2, UInt8(ascii: "t")):
            if ASCII.equalsIgnoringCase(name, "te") { return .otherHopByHop }
        case (4, UInt8(ascii: "h")):
            if ASCII.equalsIgnoringCase(name, "host") { return .host }
        case (6, UInt8(ascii: "c")):
            if ASCII.equalsIgnoringCase(name, "cookie") { return .cookie }
        case (6, UInt8(ascii: "e")):
            if ASCII.equalsIgnoringCase(name, "expect") { return .expect }
        case (7, UInt8(ascii: "u")):
            if ASCII.equalsIgnoringCase(name, "upgrade") { return .upgrade }
        case (7, UInt8(ascii: "t")):
            if ASCII.equalsIgnoringCase(name, "trailer") { return .otherHopByHop }
        case (9, UInt8(ascii: "f")):
            if ASCII.equalsIgnoringCase(name, "forwarded") { return .forwarded }
        case (9, UInt8(ascii: "x")):
            if ASCII.equalsAsFieldName(name, "x-real-ip") { return .xRealIP }
        case (10, UInt8(ascii: "c")):
            if ASCII.equalsIgnoringCase(name, "connection") { return .connection }
        case (10, UInt8(ascii: "k")):
            if ASCII.equalsIgnoringCase(name, "keep-alive") { return .otherHopByHop }
        case (10, UInt8(ascii: "u")):
            if ASCII.equalsIgnoringCase(name, "user-agent") { return .userAgent }
        case (11, UInt8(ascii: "x")):
            if ASCII.equalsAsFieldName(name, "x-client-ip") { return .clientIdentity }
        case (13, UInt8(ascii: "x")):
            if ASCII.equalsAsFieldName(name, "x-rewrite-url") { return .clientIdentity }
        case (14, UInt8(ascii: "c")):
            if ASCII.equalsIgnoringCase(name, "content-length") { return .contentLength }
            if ASCII.equalsAsFieldName(name, "content-length") {
                throw ParseFailure(400, "field name looks like Content-Length with '_' for '-'", at: offset)
            }
        case (14, UInt8(ascii: "t")):
            if ASCII.equalsAsFieldName(name, "true-client-ip") { return .clientIdentity }
        case (14, UInt8(ascii: "x")):
            if ASCII.equalsAsFieldName(name, "x-original-url") { return .clientIdentity }
        case (15, UInt8(ascii: "x")):
            if ASCII.equalsAsFieldName(name, "x-forwarded-for") { return .xForwardedFor }
            if ASCII.equalsAsFieldName(name, "x-forwarded-ssl") { return .clientIdentity }
        case (16, UInt8(ascii: "p")):
            if ASCII.equalsIgnoringCase(name, "proxy-connection") { return .otherHopByHop }
        case (16, UInt8(ascii: "x")):
            if ASCII.equalsAsFieldName(name, "x-forwarded-host") { return .xForwardedHost }
            if ASCII.equalsAsFieldName(name, "x-forwarded-port") { return .clientIdentity }
        case (17, UInt8(ascii: "t")):
            if ASCII.equalsIgnoringCase(name, "transfer-encoding") { return .transferEncoding }
            if ASCII.equalsAsFieldName(name, "transfer-encoding") {
                throw ParseFailure(400, "field name looks like Transfer-Encoding with '_' for '-'", at: offset)
            }
        case (17, UInt8(ascii: "x")):
            if ASCII.equalsAsFieldName(name, "x-forwarded-proto") { return .xForwardedProto }
        case (18, UInt8(ascii: "x")):
            if ASCII.equalsAsFieldName(name, "x-forwarded-server") { return .clientIdentity }
            if ASCII.equalsAsFieldName(name, "x-forwarded-scheme") { return .clientIdentity }
            if ASCII.equalsAsFieldName(name, "x-forwarded-prefix") { return .clientIdentity }
        case (19, UInt8(ascii: "x")):
            if ASCII.equalsAsFieldName(name, "x-cluster-client-ip") { return .clientIdentity }
        default:
            break
        }
        return .unknown
    }
}
