/// Everything the comparison keeps, per route and endpoint: counts, not pairs. This is
/// what the report is made from and what is saved across restarts (JSON). It holds
/// endpoint templates, difference keys (status codes, header names, JSON field paths),
/// body hashes and latencies — never a body, a header value or a query string.
public struct CompareBook: Codable, Sendable, Equatable {
    public static let version = 1
    public var version = CompareBook.version
    public var routes: [String: RouteBook] = [:]

    public init() {}
}

public struct RouteBook: Codable, Sendable, Equatable {
    /// Wall-clock seconds of the first and the latest pair compared (the verdict's span).
    public var firstTime: Double?
    public var lastTime: Double?
    public var endpoints: [String: EndpointBook] = [:]
    /// Samples left out because the user's own answer failed (cut by the user or by the
    /// primary side): they say nothing of the target, and counted as mismatches they kept a
    /// route from ready for browser cancellations. nil in files from before it was kept.
    public var leftOut: Int?
    /// Set when the counts restarted because mirroring paused longer than 3 days (or the
    /// route's `ready` time, when longer: `CompareAggregator.pauseLimit`): the pause's length in seconds (the count runs from `firstTime`). nil
    /// in files from before, and for a route whose counts never restarted.
    public var restartedAfterPause: Double?

    /// Endpoints beyond this many (a path with unfoldable ids) are counted under
    /// `otherEndpoint`, so a route's book stays bounded.
    public static let maxEndpoints = 200
    public static let otherEndpoint = "(other endpoints)"

    public init() {}
}

public struct EndpointBook: Codable, Sendable, Equatable {
    /// Primary-vs-mirror pairs compared.
    public var pairs = 0
    /// Primary-vs-primary (noise) samples compared.
    public var noiseSamples = 0
    /// Mirror pairs with at least one difference of each kind (before noise is taken out).
    public var kindCounts: [String: Int] = [:]
    /// Mirror pairs showing each difference key.
    public var keyCounts: [String: Int] = [:]
    /// Noise samples showing each difference key.
    public var noiseKeyCounts: [String: Int] = [:]
    /// Mirror pairs by their whole set of difference keys (keys joined by "\n"), so that
    /// "how many pairs differ by more than noise" can be counted again whenever the noise
    /// classification changes. At most `maxSignatures`; pairs beyond are `overflowPairs`.
    public var signatures: [String: Int] = [:]
    /// Differing pairs whose set did not fit in `signatures`: always counted as mismatches.
    public var overflowPairs = 0
    /// Mirror pairs whose every difference was noise when they were compared (a counter
    /// for /metrics that never goes down; the report recounts with today's classification).
    public var noiseAtIngest = 0
    /// Pairs (mirror and noise) whose bodies were compared by hash only, by reason.
    public var hashOnly: [String: Int] = [:]
    public var primaryLatency = LatencyHistogram()
    public var otherLatency = LatencyHistogram()
    /// The latest differing pairs, oldest first, at most `maxExamples`.
    public var examples: [CompareExample] = []

    public static let maxSignatures = 64
    /// Distinct difference keys (mirror and noise together); beyond, `<kind>:(other)`.
    public static let maxKeys = 256
    public static let maxExamples = 20

    public init() {}
}

/// One differing pair, as kept for the report: what differed and the two bodies' hashes.
public struct CompareExample: Codable, Sendable, Equatable {
    /// Wall-clock seconds.
    public var time: Double
    public var target: String
    public var primaryStatus: Int
    public var otherStatus: Int
    /// Difference keys (at most 10).
    public var differences: [String]
    /// Each body as 16 hex digits: SipHash-2-4 under the installation's `compare.key` of
    /// the data plane's SHA-256 (or of the captured body) — equal bodies look equal, a
    /// guessed body cannot be tested against it.
    public var primaryHash: String
    public var otherHash: String
}
