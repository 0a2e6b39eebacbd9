import Foundation
import SwitchyardRouting

/// Folds compared pairs into the `CompareBook`. Runs on the admin side (never on a worker):
/// `ingest` compares each sample (`PairComparer`) and counts what it found; samples are
/// dropped as soon as they are counted. Not thread-safe; its owner serialises calls.
public struct CompareAggregator: Sendable {
    public private(set) var book: CompareBook
    /// The installation's key for the examples' body hashes (`SipHash`); the owner sets it
    /// from `compare.key` beside the state file.
    public var exampleKey: (UInt64, UInt64) = (0, 0)

    public init(book: CompareBook = CompareBook()) { self.book = book }

    /// Compares and counts `samples`; `rules(route)` is the route's `compare` lines (nil:
    /// the route is no longer in the routes file — its samples are dropped).
    public mutating func ingest(_ samples: [MirrorSample], now: Date, rules: (String) -> CompareRules?) {
        record(samples, outcomes: Self.compare(samples, rules: rules), now: now, rules: rules)
    }

    /// The longest pause in a route's mirroring that its counts survive: 3 days, or its
    /// `ready` time when longer. Shorter would restart a clinic-hours route's counts every
    /// night or weekend, and a quiet route needing days for its pairs could never be ready;
    /// a pause longer than a long weekend is the mirror off, time in which the target may
    /// well have changed.
    static func pauseLimit(_ rules: CompareRules?) -> Double? {
        rules.map { max(Self.longestPauseSeconds, Double($0.readySeconds)) }
    }

    public static let longestPauseSeconds = 3.0 * 86_400

    /// The comparing half of `ingest`, without the book: the slow part (decoding, parsing),
    /// which its owner may run outside its lock. nil: the route is gone, the sample dropped.
    public static func compare(_ samples: [MirrorSample], rules: (String) -> CompareRules?) -> [PairOutcome?] {
        samples.map { sample in rules(sample.route).map { PairComparer.compare(sample, rules: $0) } }
    }

    /// The counting half of `ingest`: `outcomes` from `compare` over the same samples.
    ///
    /// `rules(route)`: the route's `compare` lines, whose `pauseLimit` says how long a pause
    /// in mirroring its counts survive: a mirror pair arriving later than that after the
    /// route's latest starts its counts afresh. The pairs before the pause were compared against
    /// the target as it was then (a new build may have been deployed since, the mirror was
    /// off): counted on, a day of old agreement plus one fresh pair said "ready", and
    /// thousands of old pairs diluted a fresh build's mismatches under the 0.1 % limit.
    public mutating func record(_ samples: [MirrorSample], outcomes: [PairOutcome?], now: Date,
                                rules: (String) -> CompareRules?) {
        precondition(samples.count == outcomes.count, "one outcome per sample")
        let time = now.timeIntervalSince1970
        for (sample, outcome) in zip(samples, outcomes) {
            guard let outcome else { continue }
            var route = book.routes[sample.route] ?? RouteBook()
            if sample.kind == .mirror, let last = route.lastTime, let limit = Self.pauseLimit(rules(sample.route)), time - last > limit {
                route = RouteBook()
                route.restartedAfterPause = time - last
            }
            if sample.primary.failure != nil {
                route.leftOut = (route.leftOut ?? 0) + 1
                book.routes[sample.route] = route
                continue
            }
            var endpoint = outcome.endpoint
            if route.endpoints[endpoint] == nil && route.endpoints.count >= RouteBook.maxEndpoints {
                endpoint = RouteBook.otherEndpoint
            }
            var e = route.endpoints[endpoint] ?? EndpointBook()
            count(sample, outcome, into: &e, time: time)
            route.endpoints[endpoint] = e
            if sample.kind == .mirror {
                if route.firstTime == nil { route.firstTime = time }
                route.lastTime = time
            }
            book.routes[sample.route] = route
        }
    }

    /// Forgets one route's counts, or every route's.
    public mutating func reset(route: String?) {
        if let route { book.routes[route] = nil } else { book.routes = [:] }
    }

    private func count(_ sample: MirrorSample, _ outcome: PairOutcome, into e: inout EndpointBook, time: Double) {
        if let reason = outcome.hashOnly { e.hashOnly[reason, default: 0] += 1 }
        let keys = outcome.differences.map { key in
            // A bounded set of keys per endpoint, whatever their kind (header names and
            // status pairs vary too): past the cap, keys of one kind share `<kind>:(other)`.
            // Room is kept for those (one per kind), so the cap holds with them counted.
            let room = EndpointBook.maxKeys - DifferenceKind.allCases.count
            return e.keyCounts[key] != nil || e.noiseKeyCounts[key] != nil || e.keyCounts.count + e.noiseKeyCounts.count < room
                ? key : DifferenceKey.other(for: key)
        }
        let unique = Array(Set(keys)).sorted()
        switch sample.kind {
        case .noise:
            e.noiseSamples += 1
            for key in unique { e.noiseKeyCounts[key, default: 0] += 1 }
        case .mirror:
            e.pairs += 1
            e.primaryLatency.add(sample.primary.latencyMicros)
            e.otherLatency.add(sample.other.latencyMicros)
            guard !unique.isEmpty else { return }
            for kind in Set(unique.map { DifferenceKey.kind(of: $0).rawValue }) { e.kindCounts[kind, default: 0] += 1 }
            for key in unique { e.keyCounts[key, default: 0] += 1 }
            let signature = unique.joined(separator: "\n")
            if e.signatures[signature] != nil || e.signatures.count < EndpointBook.maxSignatures {
                e.signatures[signature, default: 0] += 1
            } else {
                e.overflowPairs += 1
            }
            let noiseOnly = unique.allSatisfy { NoiseRule.isNoise($0, in: e) }
            if noiseOnly { e.noiseAtIngest += 1 }
            let example = CompareExample(time: time, target: sample.target, primaryStatus: sample.primary.status,
                                         otherStatus: sample.other.status, differences: Array(unique.prefix(10)),
                                         primaryHash: Self.hashText(sample.primary, key: exampleKey),
                                         otherHash: Self.hashText(sample.other, key: exampleKey))
            Self.keep(example, in: &e)
        }
    }

    /// Keeps the latest `maxExamples` differing pairs, preferring those that differ by more
    /// than noise: when full, the oldest noise-only example makes room; a noise-only pair
    /// is not kept in place of a mismatch.
    static func keep(_ example: CompareExample, in e: inout EndpointBook) {
        e.examples.append(example)
        guard e.examples.count > EndpointBook.maxExamples else { return }
        let isNoise = { (x: CompareExample) in x.differences.allSatisfy { NoiseRule.isNoise($0, in: e) } }
        if let oldestNoise = e.examples.firstIndex(where: isNoise) {
            e.examples.remove(at: oldestNoise)
        } else {
            e.examples.removeFirst()
        }
    }

    /// The body as an example shows it: SipHash-2-4, keyed per installation, of the data
    /// plane's SHA-256 (or of the captured body when there is none), in hex; "-" when there
    /// is neither. Equal bodies show equal text within one installation; nobody holding the
    /// file can test a guessed body against it.
    static func hashText(_ answer: MirrorAnswer, key: (UInt64, UInt64)) -> String {
        let input: [UInt8]
        if !answer.bodyHash.isEmpty { input = answer.bodyHash } else if let body = answer.body { input = body } else { return "-" }
        let h = SipHash.hash(key: key, input)
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
