import SwitchyardHTTP

/// Everything a request parser reports, for comparing feeds with each other.
struct RequestSnapshot: Equatable, CustomStringConvertible {
    var result: HeadParseResult
    var method: HTTPMethod?
    var methodSpan: ByteSpan?
    var targetSpan: ByteSpan?
    var pathSpan: ByteSpan?
    var version: HTTPVersion?
    var headers: [HeaderField] = []
    var hostSpan: ByteSpan?
    var cookieSpan: ByteSpan?
    var framing: BodyFraming?
    var keepAlive: Bool?
    var upgrade: Bool?
    var upgradeSpan: ByteSpan?
    var expectContinue: Bool?

    init(_ parser: HTTPRequestParser, _ result: HeadParseResult) {
        self.result = result
        guard case .complete = result else { return }
        method = parser.method
        methodSpan = parser.methodSpan
        targetSpan = parser.targetSpan
        pathSpan = parser.pathSpan
        version = parser.version
        headers = (0..<parser.headerCount).map { parser.header($0) }
        hostSpan = parser.hostSpan
        cookieSpan = parser.cookieSpan
        framing = parser.framing
        keepAlive = parser.keepAlive
        upgrade = parser.upgrade
        upgradeSpan = parser.upgradeSpan
        expectContinue = parser.expectContinue
    }

    var description: String { "\(result) \(String(describing: method)) \(headers.count) fields" }

    /// The error status, or nil when the head was not refused.
    var errorStatus: Int? {
        if case .error(let e) = result { return e.status }
        return nil
    }
}

/// Feeds `message` to a fresh parser (or `parser`, after a reset) the way `feed` says. Each
/// call gets a freshly copied prefix, so the buffer moves between calls as in real life.
func parseRequest(_ message: [UInt8], _ feed: Feed = .whole, limits: HTTPLimits = .default,
                  parser: HTTPRequestParser? = nil) -> RequestSnapshot {
    let parser = parser ?? HTTPRequestParser(limits: limits)
    parser.reset()
    var result = HeadParseResult.needMore
    for cut in feed.cuts(message.count) {
        let prefix = Array(message[0..<cut])
        result = prefix.withUnsafeBytes { parser.parse($0) }
        if result != .needMore { break }
    }
    return RequestSnapshot(parser, result)
}

func parseRequest(_ text: String, _ feed: Feed = .whole, limits: HTTPLimits = .default) -> RequestSnapshot {
    parseRequest(bytes(text), feed, limits: limits)
}

/// The text of `span` in `message`.
func text(_ message: [UInt8], _ span: ByteSpan?) -> String? {
    guard let span else { return nil }
    return String(decoding: message[span.start..<span.end], as: UTF8.self)
}
