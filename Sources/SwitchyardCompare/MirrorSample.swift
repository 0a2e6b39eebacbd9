/// What the data plane hands to the comparer for one mirrored request: the user's answer
/// (the primary) and the copy's answer (the mirror target, or — for a noise sample — the
/// primary side asked a second time), each reduced to what comparing needs.
///
/// Made on a worker when both answers are complete (or one side failed), carried off the hot
/// path (the worker's own bounded queue, drained by the admin thread), compared and folded
/// into the report there. It never holds a query string; bodies are held only up to
/// `MirrorAnswer.captureLimit` and only until compared — the report keeps field paths and
/// hashes, never bodies.
public struct MirrorSample: Sendable {
    /// Primary vs mirror target, or primary vs primary (noise).
    public enum Kind: Sendable, Equatable { case mirror, noise }

    public var kind: Kind
    /// The route's name (the routes file's `route NAME`).
    public var route: String
    /// The mirror target's backend name (for a noise sample: the primary's backend).
    public var target: String
    /// Request method, as sent.
    public var method: String
    /// Request path without the query string (the comparer folds it to an endpoint template).
    public var path: String
    public var primary: MirrorAnswer
    public var other: MirrorAnswer

    public init(kind: Kind, route: String, target: String, method: String, path: String,
                primary: MirrorAnswer, other: MirrorAnswer) {
        self.kind = kind
        self.route = route
        self.target = target
        self.method = method
        self.path = path
        self.primary = primary
        self.other = other
    }
}

/// One side's answer as the comparer sees it.
public struct MirrorAnswer: Sendable {
    /// Bodies up to this size are captured whole (and JSON among them compared structurally);
    /// longer ones are compared by hash only.
    public static let captureLimit = 1 << 20

    /// Why a side has no complete answer.
    public enum Failure: String, Sendable, Equatable {
        case connect, reset, timeout, tooLarge = "too_large", malformed
    }

    /// Status code of the final response; 0 when `failure` is set before a head arrived.
    public var status: Int
    public var failure: Failure?
    /// Response header fields as received (names as sent; the comparer matches them
    /// case-insensitively and picks the compared set).
    public var headers: [(name: String, value: String)]
    /// The body as received (still content-encoded) when it was at most `captureLimit`
    /// bytes; nil when longer (then only `bodyHash` and `bodyLength` say anything).
    public var body: [UInt8]?
    /// SHA-256 of the whole body as received (content-encoded bytes).
    public var bodyHash: [UInt8]
    public var bodyLength: Int
    /// Time from sending the request head to the end of the answer, in microseconds.
    public var latencyMicros: Int

    public init(status: Int, failure: Failure? = nil, headers: [(name: String, value: String)] = [],
                body: [UInt8]? = nil, bodyHash: [UInt8] = [], bodyLength: Int = 0, latencyMicros: Int = 0) {
        self.status = status
        self.failure = failure
        self.headers = headers
        self.body = body
        self.bodyHash = bodyHash
        self.bodyLength = bodyLength
        self.latencyMicros = latencyMicros
    }
}
