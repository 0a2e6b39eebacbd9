import SwitchyardRouting

/// The comparison report: per route and per endpoint, pairs compared, mismatch rates by
/// kind and by difference key (JSON field paths among them), noise, both sides' latency,
/// recent examples (keys and hashes), and a verdict per route. Made from a `CompareBook`
/// and the routes' `compare` rules; rendered as text (`CompareReport+Text`) or JSON
/// (`CompareReport+JSON`).
public struct CompareReport: Sendable {
    public struct Key: Sendable {
        public var key: String
        public var kind: DifferenceKind
        /// Mirror pairs showing it, and their share of the endpoint's pairs.
        public var count: Int
        public var rate: Double
        /// Noise samples showing it, and their share of the endpoint's noise samples.
        public var noiseCount: Int
        public var noiseRate: Double
        public var isNoise: Bool
    }

    public struct Endpoint: Sendable {
        public var endpoint: String
        public var pairs: Int
        public var noiseSamples: Int
        public var aboveNoise: Int
        public var noiseOnly: Int
        /// Mirror pairs with a difference of each kind (noise included), by kind.
        public var kindCounts: [DifferenceKind: Int]
        /// Most frequent first.
        public var keys: [Key]
        public var hashOnly: [String: Int]
        public var primaryLatency: LatencyHistogram
        public var otherLatency: LatencyHistogram
        public var examples: [CompareExample]
    }

    public struct Route: Sendable {
        public var name: String
        public var pairs: Int
        /// Samples left out: the user's own answer failed (see `RouteBook.leftOut`).
        public var leftOut: Int
        public var noiseSamples: Int
        public var aboveNoise: Int
        public var noiseOnly: Int
        public var kindCounts: [DifferenceKind: Int]
        public var firstTime: Double?
        public var lastTime: Double?
        public var spanSeconds: Double
        /// The counts restarted after mirroring paused this many seconds (`RouteBook`).
        public var restartedAfterPause: Double?
        public var endpoints: [Endpoint]
        public var verdict: CompareVerdict
        public var rules: CompareRules
    }

    public var routes: [Route]

    /// `routes`: the routes to report, in order, with their rules (a route with nothing
    /// compared yet is reported empty, its verdict saying what is missing).
    /// `now` (Unix seconds): the verdict also asks that the latest pair be recent (nil: not
    /// asked, as for a report of a saved book).
    public init(book: CompareBook, routes: [(name: String, rules: CompareRules)], now: Double? = nil) {
        self.routes = routes.map { Self.route($0.name, book.routes[$0.name] ?? RouteBook(), rules: $0.rules, now: now) }
    }

    static func route(_ name: String, _ book: RouteBook, rules: CompareRules, now: Double? = nil) -> Route {
        var endpoints: [Endpoint] = []
        var worst: (key: String, endpoint: String, count: Int)?
        for (template, e) in book.endpoints.sorted(by: { $0.key < $1.key }) {
            let (above, noiseOnly) = NoiseRule.split(e)
            var keys: [Key] = []
            for key in Set(e.keyCounts.keys).union(e.noiseKeyCounts.keys) {
                let count = e.keyCounts[key] ?? 0, noise = e.noiseKeyCounts[key] ?? 0
                let isNoise = NoiseRule.isNoise(key, in: e)
                keys.append(Key(key: key, kind: DifferenceKey.kind(of: key), count: count,
                                rate: e.pairs == 0 ? 0 : Double(count) / Double(e.pairs), noiseCount: noise,
                                noiseRate: e.noiseSamples == 0 ? 0 : Double(noise) / Double(e.noiseSamples), isNoise: isNoise))
                if !isNoise && count > 0 && count > (worst?.count ?? 0) { worst = (key, template, count) }
            }
            keys.sort { ($0.count, $0.noiseCount, $1.key) > ($1.count, $1.noiseCount, $0.key) }
            var kinds: [DifferenceKind: Int] = [:]
            for (kind, count) in e.kindCounts { if let k = DifferenceKind(rawValue: kind) { kinds[k] = count } }
            endpoints.append(Endpoint(endpoint: template, pairs: e.pairs, noiseSamples: e.noiseSamples, aboveNoise: above,
                                      noiseOnly: noiseOnly, kindCounts: kinds, keys: keys, hashOnly: e.hashOnly,
                                      primaryLatency: e.primaryLatency, otherLatency: e.otherLatency, examples: e.examples))
        }
        let pairs = endpoints.reduce(0) { $0 + $1.pairs }
        let above = endpoints.reduce(0) { $0 + $1.aboveNoise }
        var kinds: [DifferenceKind: Int] = [:]
        for e in endpoints { for (k, n) in e.kindCounts { kinds[k, default: 0] += n } }
        let span = (book.lastTime ?? 0) - (book.firstTime ?? 0)
        // Pairs whose bodies could not be compared are no evidence that the sides agree.
        let uncompared = endpoints.reduce(0) { $0 + ($1.hashOnly[BodyComparison.HashOnly.unsupportedEncoding.rawValue] ?? 0) }
        let verdict = CompareVerdict.judge(pairs: pairs, uncompared: uncompared, spanSeconds: span, aboveNoise: above,
                                           worst: worst.map { ($0.key, $0.endpoint) }, rules: rules,
                                           latestAgeSeconds: now.flatMap { now in book.lastTime.map { now - $0 } })
        return Route(name: name, pairs: pairs, leftOut: book.leftOut ?? 0, noiseSamples: endpoints.reduce(0) { $0 + $1.noiseSamples }, aboveNoise: above,
                     noiseOnly: endpoints.reduce(0) { $0 + $1.noiseOnly }, kindCounts: kinds, firstTime: book.firstTime,
                     lastTime: book.lastTime, spanSeconds: span, restartedAfterPause: book.restartedAfterPause,
                     endpoints: endpoints, verdict: verdict, rules: rules)
    }
}
