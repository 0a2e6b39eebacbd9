import SwitchyardProxy
import SwitchyardRouting

/// The mirror's data-plane series: copies sent, dropped (by reason), failed (by reason) and
/// in flight, per target backend. Every target a route of the table mirrors to is shown
/// from the start at 0, with every reason; the comparison's series (`switchyard_mirror_…`
/// pairs, mismatches) are the comparer's.
enum MirrorMetrics {
    static let failures = ["connect", "reset", "timeout", "malformed", "too_large"]

    static func render(_ s: MirrorSnapshot, table: RouteTable) -> String {
        var names = Set(s.backends.keys)
        for route in table.routes {
            guard let mirror = route.mirror else { continue }
            names.insert(mirror.backend)
        }
        let backends = names.sorted()
        var out = PrometheusText()
        guard !backends.isEmpty else { return out.text }
        out.family("switchyard_mirror_sent_total", "counter", "Mirrored copies sent (noise copies to the primary side included), by target backend.")
        for name in backends { out.sample("switchyard_mirror_sent_total", [("backend", name)], Double(s.backends[name]?.sent ?? 0)) }
        out.family("switchyard_mirror_dropped_total", "counter", "Copies not sent (over a bound, a write to a non-sandbox, too large, no server), by target and reason.")
        for name in backends {
            for reason in MirrorDrop.allCases {
                out.sample("switchyard_mirror_dropped_total", [("backend", name), ("reason", reason.label)],
                           Double(s.backends[name]?.dropped[reason.rawValue] ?? 0))
            }
        }
        out.family("switchyard_mirror_failed_total", "counter", "Copies sent that got no complete answer, by target and reason.")
        for name in backends {
            for reason in failures {
                out.sample("switchyard_mirror_failed_total", [("backend", name), ("reason", reason)], Double(s.backends[name]?.failed[reason] ?? 0))
            }
        }
        out.family("switchyard_mirror_in_flight", "gauge", "Copies in flight now, by target backend.")
        for name in backends { out.sample("switchyard_mirror_in_flight", [("backend", name)], Double(s.backends[name]?.inFlight ?? 0)) }
        return out.text
    }
}
