/// Size limits applied to untrusted HTTP/1.1 input. Every limit is inclusive: a message exactly
/// at a limit is accepted, one byte (or one field) more is rejected with the status named below.
public struct HTTPLimits: Sendable {
    /// Longest request line (or response status line), CRLF included. Exceeding it: 414
    /// (502 on the response side). 8 KiB matches what common servers and proxies accept.
    public var maxRequestLineBytes: Int
    /// Longest header block: every byte after the start line up to and including the empty
    /// line that ends the head. Exceeding it: 431. 32 KiB leaves room for large cookie jars.
    public var maxHeaderBytes: Int
    /// Most field lines in one head. Exceeding it: 431. This also sizes the field table each
    /// parser allocates once, in its initialiser.
    public var maxHeaderCount: Int
    /// Most bytes of chunk extensions on one chunk-size line (from the first ';' up to the
    /// CRLF). Exceeding it: 400. Extensions are dropped, so they only cost us; keep them short.
    public var maxChunkExtensionBytes: Int
    /// Most bytes in a chunked body's trailer section, the final CRLF included. Exceeding
    /// it: 400 (trailers are dropped, so a 431 about "headers" would mislead).
    public var maxTrailerBytes: Int

    /// The limits above with their documented defaults.
    public static let `default` = HTTPLimits()

    public init(maxRequestLineBytes: Int = 8192,
                maxHeaderBytes: Int = 32768,
                maxHeaderCount: Int = 100,
                maxChunkExtensionBytes: Int = 256,
                maxTrailerBytes: Int = 4096) {
        precondition(maxRequestLineBytes > 0 && maxHeaderBytes > 0 && maxHeaderCount >= 0
                     && maxChunkExtensionBytes >= 0 && maxTrailerBytes >= 0,
                     "HTTPLimits must not be negative")
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxChunkExtensionBytes = maxChunkExtensionBytes
        self.maxTrailerBytes = maxTrailerBytes
    }
}
