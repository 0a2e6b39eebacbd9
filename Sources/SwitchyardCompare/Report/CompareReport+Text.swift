import Foundation

extension CompareReport {
    /// How many recent examples the text shows per endpoint (JSON carries all kept).
    static let textExamples = 3

    /// The report for people: the verdict first, then per endpoint what differs, the
    /// differences above noise marked MISMATCH and those classed as noise said so.
    public func text() -> String {
        var lines: [String] = []
        if routes.isEmpty { return "no route to report (mirror a route first: mirror BACKEND N% in its block)" }
        for route in routes {
            lines.append("route \(route.name): \(route.verdict.text)")
            if route.pairs == 0 && route.noiseSamples == 0 {
                lines.append("  nothing compared yet")
                continue
            }
            lines.append("  \(ReportFormat.count(route.pairs)) pairs over \(ReportFormat.duration(route.spanSeconds))"
                         + " (+\(ReportFormat.count(route.noiseSamples)) primary-vs-primary); mismatches above noise "
                         + "\(ReportFormat.count(route.aboveNoise)) (\(Self.rate(route.aboveNoise, route.pairs))); noise only "
                         + "\(ReportFormat.count(route.noiseOnly)) (\(Self.rate(route.noiseOnly, route.pairs)))"
                         + (route.leftOut > 0 ? "; \(ReportFormat.count(route.leftOut)) left out (the user's own answer failed)" : ""))
            if let pause = route.restartedAfterPause {
                lines.append("  counted afresh after mirroring paused \(ReportFormat.duration(pause)): the pairs before it were compared against the target as it was then, and were dropped")
            }
            for e in route.endpoints { lines += endpointLines(e) }
        }
        return lines.joined(separator: "\n")
    }

    private func endpointLines(_ e: Endpoint) -> [String] {
        var lines = ["  \(e.endpoint): \(ReportFormat.count(e.pairs)) pairs, \(ReportFormat.count(e.noiseSamples)) primary-vs-primary; "
                     + "above noise \(ReportFormat.count(e.aboveNoise)) (\(Self.rate(e.aboveNoise, e.pairs))), noise only "
                     + "\(ReportFormat.count(e.noiseOnly)) (\(Self.rate(e.noiseOnly, e.pairs)))"]
        lines.append("    latency p50 / p99: primary \(ReportFormat.latency(e.primaryLatency.quantileMicros(0.5))) / "
                     + "\(ReportFormat.latency(e.primaryLatency.quantileMicros(0.99))); mirror "
                     + "\(ReportFormat.latency(e.otherLatency.quantileMicros(0.5))) / \(ReportFormat.latency(e.otherLatency.quantileMicros(0.99)))")
        let kinds = DifferenceKind.allCases.compactMap { kind -> String? in
            guard let n = e.kindCounts[kind], n > 0 else { return nil }
            return "\(kind.rawValue) \(Self.rate(n, e.pairs))"
        }
        if !kinds.isEmpty { lines.append("    by kind (noise included): " + kinds.joined(separator: ", ")) }
        let width = min(48, e.keys.map { DifferenceKey.display($0.key).count }.max() ?? 0)
        for key in e.keys {
            let name = DifferenceKey.display(key.key).padding(toLength: max(width, DifferenceKey.display(key.key).count), withPad: " ", startingAt: 0)
            let verdict = key.isNoise
                ? "noise (\(ReportFormat.count(key.noiseCount)) of \(ReportFormat.count(e.noiseSamples)) primary-vs-primary)"
                : "MISMATCH"
            lines.append("    \(name)  \(ReportFormat.count(key.count)) pairs (\(Self.rate(key.count, e.pairs)))  \(verdict)")
        }
        if !e.hashOnly.isEmpty {
            let byHash = e.hashOnly.filter { $0.key != BodyComparison.HashOnly.unsupportedEncoding.rawValue }
            if !byHash.isEmpty {
                lines.append("    compared by hash only: " + byHash.sorted { $0.key < $1.key }.map { "\($0.key.replacingOccurrences(of: "_", with: " ")) \($0.value)" }.joined(separator: ", "))
            }
            if let n = e.hashOnly[BodyComparison.HashOnly.unsupportedEncoding.rawValue] {
                lines.append("    bodies not compared (a coding not decoded, such as br; not counted towards ready): \(ReportFormat.count(n)) pairs")
            }
        }
        // The latest pairs that differ by more than noise, and only those differences.
        let noise = Set(e.keys.filter(\.isNoise).map(\.key))
        let telling = e.examples.filter { !$0.differences.allSatisfy(noise.contains) }
        for example in telling.suffix(Self.textExamples).reversed() {
            lines.append("    recent: \(Self.time(example.time)) \(example.target) \(example.primaryStatus)/\(example.otherStatus) "
                         + example.differences.filter { !noise.contains($0) }.map(DifferenceKey.display).joined(separator: ", ")
                         + "  body \(example.primaryHash) / \(example.otherHash)")
        }
        return lines
    }

    static func rate(_ n: Int, _ of: Int) -> String { of == 0 ? "-" : ReportFormat.percent(Double(n) / Double(of)) }

    static func time(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}
