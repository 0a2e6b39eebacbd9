/// The request method, for the methods the proxy treats specially. Anything else is
/// `.other`; its exact bytes are in `HTTPRequestParser.methodSpan`. Methods are
/// case-sensitive (RFC 9110 §9.1), so `get` is `.other`.
public enum HTTPMethod: UInt8, Sendable {
    case get, head, post, put, delete, options, patch, trace, connect, other

    /// Recognises a method token (already checked to be a token).
    /// The method named by `bytes` (`.other` for extension methods).
    public init(bytes: UnsafeRawBufferPointer) {
        self = HTTPMethod.classify(bytes)
    }

    static func classify(_ b: UnsafeRawBufferPointer) -> HTTPMethod {
        switch b.count {
        case 3:
            if ASCII.equals(b, "GET") { return .get }
            if ASCII.equals(b, "PUT") { return .put }
        case 4:
            if ASCII.equals(b, "HEAD") { return .head }
            if ASCII.equals(b, "POST") { return .post }
        case 5:
            if ASCII.equals(b, "PATCH") { return .patch }
            if ASCII.equals(b, "TRACE") { return .trace }
        case 6:
            if ASCII.equals(b, "DELETE") { return .delete }
        case 7:
            if ASCII.equals(b, "OPTIONS") { return .options }
            if ASCII.equals(b, "CONNECT") { return .connect }
        default:
            break
        }
        return .other
    }
}
