/// What a response body source gives nghttp2 when asked for DATA.
public enum H2BodyChunk {
    /// `count` bytes are ready (copied when the frame is written); `end`: with them the
    /// body is complete.
    case bytes(Int, end: Bool)
    /// Nothing yet: the stream's DATA is deferred until `H2ServerSession.resume`.
    case deferred
}
