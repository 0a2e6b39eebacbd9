import Foundation
import SwitchyardRouting

/// What comparing one pair found.
public struct PairOutcome: Sendable, Equatable {
    /// `GET /patients/{id}`.
    public var endpoint: String
    /// Difference keys (see `DifferenceKey`), sorted; empty when the answers agree.
    public var differences: [String]
    /// Why the bodies were compared by hash only, if they were (`BodyComparison.HashOnly`).
    public var hashOnly: String?
}

/// Compares one mirrored pair: status, the route's compared headers, the body. Pure: no
/// I/O, no clock; the aggregator does the counting.
public enum PairComparer {
    public static func compare(_ sample: MirrorSample, rules: CompareRules) -> PairOutcome {
        let endpoint = DifferenceKey.capped(EndpointTemplate.fold(method: sample.method, path: sample.path))
        let p = sample.primary, o = sample.other
        // A side without an answer: nothing else to compare.
        if p.failure != nil || o.failure != nil {
            var keys: [String] = []
            if let f = p.failure { keys.append(DifferenceKey.failure(side: "primary", f)) }
            if let f = o.failure { keys.append(DifferenceKey.failure(side: sample.kind == .noise ? "primary-again" : "mirror", f)) }
            return PairOutcome(endpoint: endpoint, differences: keys, hashOnly: nil)
        }
        var keys: [String] = []
        if p.status != o.status { keys.append(DifferenceKey.status(p.status, o.status)) }
        let ph = headerValues(p.headers), oh = headerValues(o.headers)
        for name in rules.comparedHeaders where ph[name] != oh[name] {
            keys.append(DifferenceKey.header(name))
        }
        let body = BodyComparison.compare(p, o, primaryType: ph["content-type"], otherType: oh["content-type"],
                                          primaryEncoding: ph["content-encoding"], otherEncoding: oh["content-encoding"],
                                          ignoring: rules.ignoredJSON)
        keys += body.differences
        return PairOutcome(endpoint: endpoint, differences: Set(keys.map(DifferenceKey.capped)).sorted(),
                           hashOnly: body.hashOnly?.rawValue)
    }

    /// Header values by lower-cased name; repeated fields joined with ", " (RFC 9110 5.3),
    /// values trimmed.
    static func headerValues(_ headers: [(name: String, value: String)]) -> [String: String] {
        var values: [String: String] = [:]
        for (name, value) in headers {
            let key = name.lowercased()
            let trimmed = value.trimmingCharacters(in: [" ", "\t"])
            if let existing = values[key] { values[key] = existing + ", " + trimmed } else { values[key] = trimmed }
        }
        return values
    }
}
