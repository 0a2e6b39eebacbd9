/// How the body after a head is delimited (RFC 9112 §6.3).
public enum BodyFraming: Sendable, Equatable {
    /// No body follows the head.
    case none
    /// Exactly this many bytes follow (a Content-Length field).
    case contentLength(UInt64)
    /// A chunked body follows; decode it with `ChunkedDecoder`.
    case chunked
    /// Responses only: the body runs until the upstream closes the connection.
    case untilClose
}
