/// Why a message was refused, as the status the peer should get.
///
/// Request parsing yields 400, 413, 414, 417, 431, 501 or 505; response parsing always
/// yields 502 (the caller decides what the client sees), with the same reasons.
public struct HTTPParseError: Error, Sendable, Equatable {
    /// The HTTP status that describes the fault.
    public var status: Int
    /// A sentence a person can act on. Built only when a message fails.
    public var reason: String
    /// Offset of the offending byte from the message's first byte (for chunked bodies: from
    /// the body's first byte). For a size limit, the offset at which the limit was passed.
    public var offset: Int

    public init(status: Int, reason: String, offset: Int) {
        self.status = status
        self.reason = reason
        self.offset = offset
    }
}

/// The parsers' internal error: a `StaticString` costs nothing until it becomes a public
/// `HTTPParseError`, so hot paths can throw it freely.
struct ParseFailure: Error {
    var status: Int
    var reason: StaticString
    var offset: Int

    init(_ status: Int, _ reason: StaticString, at offset: Int) {
        self.status = status
        self.reason = reason
        self.offset = offset
    }

    /// The public error; `status` overrides ours (the response side reports 502 for all).
    func publicError(status override: Int? = nil) -> HTTPParseError {
        HTTPParseError(status: override ?? status, reason: reason.description, offset: offset)
    }
}
