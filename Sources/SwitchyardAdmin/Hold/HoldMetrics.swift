import SwitchyardProxy

/// The write hold's Prometheus series: parked requests now, and refusals by reason (every
/// reason shown from the start at 0).
enum HoldMetrics {
    static func render(_ s: HoldSnapshot) -> String {
        var out = PrometheusText()
        out.family("switchyard_held_requests", "gauge", "Write requests parked by a hold now, summed over workers.")
        out.sample("switchyard_held_requests", [], Double(s.parked))
        out.family("switchyard_hold_rejections_total", "counter", "Held writes answered 503 (not saved, never forwarded), by reason.")
        for reason in HoldRejection.allCases {
            out.sample("switchyard_hold_rejections_total", [("reason", reason.label)], Double(s.rejections[reason.label] ?? 0))
        }
        out.family("switchyard_hold_joined_total", "counter", "Writes that came while a release was sending its queue and waited behind it.")
        out.sample("switchyard_hold_joined_total", [], Double(s.joinedTotal))
        return out.text
    }
}
