/// Limits every HTTP/2 session runs with: what we advertise in SETTINGS, and nghttp2's guards
/// against the known floods. Each one is checked by an attack test on loopback.
public struct H2Limits: Sendable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS: more open streams are refused by nghttp2.
    public var maxConcurrentStreams: UInt32 = 100
    /// Per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE). Request body bytes are
    /// acknowledged only once passed towards the backend, so a stream never holds more
    /// than this in memory; it must stay below one I/O buffer.
    public var streamWindow: UInt32 = 60 * 1024
    /// Connection receive window: the sum over all streams of what may be in flight.
    public var connectionWindow: UInt32 = 8 * 1024 * 1024
    /// Decoded request header list (names + values + 32 per field, RFC 9113 §6.5.2) and
    /// field count; beyond either the stream is answered 431 (the HPACK bomb guard: a small
    /// header block can decode to a huge list).
    public var maxHeaderListBytes: Int = 32 * 1024
    public var maxHeaderFields: Int = 100
    /// Rapid reset (CVE-2023-44487): a token bucket of stream resets, `burst` deep and
    /// refilled at `ratePerSecond`; beyond it the connection gets GOAWAY.
    public var resetBurst: UInt64 = 1000
    public var resetRatePerSecond: UInt64 = 33
    /// CONTINUATION flood (CVE-2024-28182): CONTINUATION frames per header block.
    public var maxContinuations: Int = 8
    /// Entries in one SETTINGS frame.
    public var maxSettings: Int = 32
    /// Queued outbound PING/SETTINGS ACKs (a client that sends pings and never reads).
    public var maxOutboundAck: Int = 1000

    public static let `default` = H2Limits()
    public init() {}
}
