import SwitchyardRouting

/// A route's verdict: "ready" when at least `readyPairs` mirror pairs were compared over at
/// least `readySeconds` (first to latest pair), the latest no longer than `readySeconds` ago,
/// and the share of pairs differing by more than noise is under `maxMismatchRate` (0.1 %). Otherwise what is missing, in words:
/// `412 of 1,000 pairs; 38 min of 1 h; 2.9 % mismatches (most at $.patient.name, GET /patients/{id})`.
public struct CompareVerdict: Sendable, Equatable {
    public static let maxMismatchRate = 0.001

    public var ready: Bool
    /// What is missing (empty when ready).
    public var missing: [String]

    public var text: String { ready ? "ready" : "not ready: " + missing.joined(separator: "; ") }

    /// `worst`: the most frequent difference above noise and its endpoint, if any.
    ///
    /// `latestAgeSeconds`: how long ago the latest pair was compared (nil: not asked). Pairs
    /// older than `readySeconds` are old evidence — the mirror turned off, a new build of the
    /// target deployed since — and a plan that requires `compare-ready` must not move users
    /// on them.
    ///
    /// `uncompared`: pairs among `pairs` whose bodies were not compared (a coding the
    /// comparer does not decode): they do not count towards `readyPairs`.
    static func judge(pairs allPairs: Int, uncompared: Int = 0, spanSeconds: Double, aboveNoise: Int,
                      worst: (key: String, endpoint: String)?, rules: CompareRules,
                      latestAgeSeconds: Double? = nil) -> CompareVerdict {
        let pairs = max(0, allPairs - uncompared)
        var missing: [String] = []
        if pairs > 0, let age = latestAgeSeconds, age > Double(rules.readySeconds) {
            missing.append("latest pair \(ReportFormat.duration(age)) ago (at most \(ReportFormat.duration(Double(rules.readySeconds))))")
        }
        if pairs < rules.readyPairs {
            var text = "\(ReportFormat.count(pairs)) of \(ReportFormat.count(rules.readyPairs)) pairs"
            if uncompared > 0 {
                text += " (\(ReportFormat.count(uncompared)) more not counted: bodies in a coding not decoded, such as br)"
            }
            missing.append(text)
        }
        if spanSeconds < Double(rules.readySeconds) {
            missing.append("\(ReportFormat.duration(spanSeconds)) of \(ReportFormat.duration(Double(rules.readySeconds)))")
        }
        let rate = pairs == 0 ? 0 : Double(aboveNoise) / Double(pairs)
        if pairs > 0 && rate >= maxMismatchRate {
            var text = "\(ReportFormat.percent(rate)) mismatches above noise (at most \(ReportFormat.percent(maxMismatchRate)))"
            if let worst { text += ", most at \(DifferenceKey.display(worst.key)) on \(worst.endpoint)" }
            missing.append(text)
        }
        return CompareVerdict(ready: missing.isEmpty, missing: missing)
    }
}

/// Numbers as the report writes them, for people reading at 2 a.m.
public enum ReportFormat {
    /// 1234567 → "1,234,567".
    public static func count(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// 0.029 → "2.9 %", 0.00012 → "0.012 %", 0 → "0 %".
    public static func percent(_ ratio: Double) -> String {
        let p = ratio * 100
        if p == 0 || !p.isFinite { return p == 0 ? "0 %" : "? %" }
        let text: String
        if p >= 10 { text = String(Int(exactly: p.rounded()) ?? Int.max) }
        else if p >= 0.1 { text = trimmed(p, places: 1) }
        else { text = trimmed(p, places: 3) }
        return text + " %"
    }

    private static func trimmed(_ value: Double, places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = "\(rounded)"
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }

    /// Seconds → "45 s", "38 min", "1 h", "2 h 5 min", "3 d".
    public static func duration(_ seconds: Double) -> String {
        // Clamped: a time from a damaged file must not trap the report.
        let s = seconds.isFinite ? Int(max(0, min(seconds, 1e15))) : 0
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min" }
        if s < 86_400 { return s % 3600 >= 60 ? "\(s / 3600) h \(s % 3600 / 60) min" : "\(s / 3600) h" }
        return "\(s / 86_400) d"
    }

    /// Microseconds → "850 µs", "12 ms", "1.4 s".
    public static func latency(_ micros: Int?) -> String {
        guard let micros else { return "-" }
        if micros < 1000 { return "\(micros) µs" }
        if micros < 10_000 { return trimmed(Double(micros) / 1000, places: 1) + " ms" }
        if micros < 1_000_000 { return "\(micros / 1000) ms" }
        return trimmed(Double(micros) / 1e6, places: 1) + " s"
    }
}
