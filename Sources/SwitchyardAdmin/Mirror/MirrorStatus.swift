import Foundation
import SwitchyardProxy

/// The mirror's part of `status`: per target, copies sent, answered, dropped (by reason),
/// failed (by reason) and in flight. Nothing when no route mirrors and nothing was counted.
enum MirrorStatus {
    static func describe(_ service: AdminService) -> ([String], Any) {
        let snapshot = service.dataPlane.mirrorSnapshot()
        var names = Set(snapshot.backends.keys)
        for route in service.table.routes { if let mirror = route.mirror { names.insert(mirror.backend) } }
        guard !names.isEmpty else { return ([], NSNull()) }
        var lines = ["", "mirror (copies; the user never waits for them):"]
        var json: [[String: Any]] = []
        for name in names.sorted() {
            let c = snapshot.backends[name] ?? MirrorCounters()
            var dropped: [String: Int] = [:]
            for reason in MirrorDrop.allCases where c.dropped[reason.rawValue] > 0 { dropped[reason.label] = c.dropped[reason.rawValue] }
            func list(_ counts: [String: Int]) -> String {
                counts.isEmpty ? "" : " (" + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"
            }
            lines.append("  \(name): sent \(c.sent), answered \(c.completed), dropped \(c.droppedTotal)\(list(dropped)), "
                         + "failed \(c.failed.values.reduce(0, +))\(list(c.failed)), in flight \(c.inFlight)")
            json.append(["backend": name, "sent": c.sent, "answered": c.completed, "dropped": dropped, "failed": c.failed,
                         "in_flight": c.inFlight])
        }
        if snapshot.samplesDropped > 0 { lines.append("  pairs lost before comparing (outbox full): \(snapshot.samplesDropped)") }
        return (lines, ["targets": json, "pairs_lost": snapshot.samplesDropped] as [String: Any])
    }
}
