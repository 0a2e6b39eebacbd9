/// The outcome of one call to a head parser.
public enum HeadParseResult: Sendable, Equatable {
    /// The head is not complete yet: call again with the same bytes plus more.
    case needMore
    /// The head is complete and valid; it is the first `headLength` bytes (the body, if
    /// any, starts right after). The parser's properties are now valid.
    case complete(headLength: Int)
    /// The head is invalid; the connection must not be reused for another message.
    case error(HTTPParseError)
}
