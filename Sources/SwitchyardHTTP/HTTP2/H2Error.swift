import CNGHTTP2

/// A failed HTTP/2 session: nghttp2's error code and its description. The session is over
/// (a GOAWAY may still be queued for sending).
public struct H2Error: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public init(code: Int32) { self.code = code }
    public var description: String { "HTTP/2: " + String(cString: nghttp2_strerror(code)) }
    /// The peer broke a flood limit (rapid reset, too many SETTINGS, unread ACKs…).
    public var isFlood: Bool { code == NGHTTP2_ERR_FLOODED.rawValue }
}
