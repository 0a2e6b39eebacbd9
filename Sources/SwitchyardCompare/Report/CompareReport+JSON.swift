import Foundation

extension CompareReport {
    /// The report as JSON objects (`switchyard compare --json`, `/status.json`). Field names
    /// are stable; rates are ratios (0…1); latencies in milliseconds (bucket upper bounds).
    public func json() -> [[String: Any]] { routes.map(Self.routeJSON) }

    static func routeJSON(_ r: Route) -> [String: Any] {
        [
            "route": r.name,
            "pairs": r.pairs,
            "noise_samples": r.noiseSamples,
            "left_out": r.leftOut,
            "mismatches_above_noise": r.aboveNoise,
            "mismatch_rate": ratio(r.aboveNoise, r.pairs),
            "noise_only": r.noiseOnly,
            "noise_rate": ratio(r.noiseOnly, r.pairs),
            "kinds": kindsJSON(r.kindCounts, r.pairs),
            "first_time": r.firstTime ?? NSNull(),
            "last_time": r.lastTime ?? NSNull(),
            "span_seconds": r.spanSeconds,
            "restarted_after_pause_seconds": r.restartedAfterPause ?? NSNull(),
            "ready": r.verdict.ready,
            "verdict": r.verdict.text,
            "missing": r.verdict.missing,
            "ready_pairs": r.rules.readyPairs,
            "ready_seconds": r.rules.readySeconds,
            "compared_headers": r.rules.comparedHeaders,
            "ignored_json": r.rules.ignoredJSON.map(\.description),
            "endpoints": r.endpoints.map(endpointJSON),
        ]
    }

    static func endpointJSON(_ e: Endpoint) -> [String: Any] {
        func latency(_ h: LatencyHistogram) -> [String: Any] {
            ["p50_ms": h.quantileMicros(0.5).map { Double($0) / 1000 } ?? NSNull(),
             "p99_ms": h.quantileMicros(0.99).map { Double($0) / 1000 } ?? NSNull(), "count": h.total]
        }
        return [
            "endpoint": e.endpoint,
            "pairs": e.pairs,
            "noise_samples": e.noiseSamples,
            "mismatches_above_noise": e.aboveNoise,
            "mismatch_rate": ratio(e.aboveNoise, e.pairs),
            "noise_only": e.noiseOnly,
            "noise_rate": ratio(e.noiseOnly, e.pairs),
            "kinds": kindsJSON(e.kindCounts, e.pairs),
            "differences": e.keys.map { k -> [String: Any] in
                ["key": k.key, "kind": k.kind.rawValue, "display": DifferenceKey.display(k.key), "count": k.count, "rate": k.rate,
                 "noise_count": k.noiseCount, "noise_rate": k.noiseRate, "noise": k.isNoise]
            },
            "hash_only": e.hashOnly,
            "latency": ["primary": latency(e.primaryLatency), "mirror": latency(e.otherLatency)],
            "examples": e.examples.map { x -> [String: Any] in
                ["time": x.time, "target": x.target, "primary_status": x.primaryStatus, "other_status": x.otherStatus,
                 "differences": x.differences, "primary_hash": x.primaryHash, "other_hash": x.otherHash]
            },
        ]
    }

    static func kindsJSON(_ counts: [DifferenceKind: Int], _ pairs: Int) -> [String: Any] {
        var out: [String: Any] = [:]
        for kind in DifferenceKind.allCases {
            let n = counts[kind] ?? 0
            out[kind.rawValue] = ["count": n, "rate": ratio(n, pairs)]
        }
        return out
    }

    static func ratio(_ n: Int, _ of: Int) -> Double { of == 0 ? 0 : Double(n) / Double(of) }
}
