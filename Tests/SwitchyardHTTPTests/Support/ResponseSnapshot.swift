import SwitchyardHTTP

/// Everything a response parser reports, for comparing feeds with each other.
struct ResponseSnapshot: Equatable, CustomStringConvertible {
    var result: HeadParseResult
    var status: Int?
    var reasonSpan: ByteSpan?
    var version: HTTPVersion?
    var headers: [HeaderField] = []
    var framing: BodyFraming?
    var keepAlive: Bool?
    var upgradeSpan: ByteSpan?

    init(_ parser: HTTPResponseParser, _ result: HeadParseResult) {
        self.result = result
        guard case .complete = result else { return }
        status = parser.status
        reasonSpan = parser.reasonSpan
        version = parser.version
        headers = (0..<parser.headerCount).map { parser.header($0) }
        framing = parser.framing
        keepAlive = parser.keepAlive
        upgradeSpan = parser.upgradeSpan
    }

    var description: String { "\(result) \(String(describing: status)) \(String(describing: framing))" }

    var errorStatus: Int? {
        if case .error(let e) = result { return e.status }
        return nil
    }
}

func parseResponse(_ message: [UInt8], _ feed: Feed = .whole, requestMethod: HTTPMethod = .get,
                   limits: HTTPLimits = .default) -> ResponseSnapshot {
    let parser = HTTPResponseParser(limits: limits)
    var result = HeadParseResult.needMore
    for cut in feed.cuts(message.count) {
        let prefix = Array(message[0..<cut])
        result = prefix.withUnsafeBytes { parser.parse($0, requestMethod: requestMethod) }
        if result != .needMore { break }
    }
    return ResponseSnapshot(parser, result)
}

func parseResponse(_ text: String, _ feed: Feed = .whole, requestMethod: HTTPMethod = .get,
                   limits: HTTPLimits = .default) -> ResponseSnapshot {
    parseResponse(bytes(text), feed, requestMethod: requestMethod, limits: limits)
}
