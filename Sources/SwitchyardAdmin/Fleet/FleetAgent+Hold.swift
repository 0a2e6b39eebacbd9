import Foundation
import SwitchyardSystem

/// The write hold's quiescence across a fleet. `hold` typed on one instance is the signal
/// that the database freeze may start, so its answer must speak for every instance: a
/// write another instance forwarded before it applied the hold, or an instance that never
/// applied it (behind, detached, gone), writes to the old database after the switch.
/// Before, the answer looked at this instance's own writes only.
extension FleetAgent {
    /// The members of the fleet not yet quiet for a hold at `generation` (this instance
    /// aside: its own writes are counted directly), each with why: its record is behind,
    /// not synced, not measured yet, has writes in flight, or is missing (its lease ran out:
    /// detached or gone). Empty: every member applied the hold and has nothing in flight.
    /// From the heartbeat's view of the records (read every half second), which must have
    /// been read after `readAfter` (wall milliseconds): an older one — the first beat not
    /// come yet, or failing — says nothing of the hold.
    func holdLaggards(generation: UInt64, readAfter: UInt64) -> [String] {
        let view = self.view.withLock { $0 }
        guard view.readAtMilliseconds >= readAfter else { return ["(the fleet's records not read since the hold)"] }
        var laggards: [(name: String, why: String)] = view.gone.filter { $0 != instanceName }.map {
            ($0, "no live record: cut off from the store, or stopped; if it was retired for good, `switchyard fleet forget \($0)`")
        }
        for record in view.instances where record.name != instanceName {
            if record.generation < generation {
                laggards.append((record.name, "generation \(record.generation), not yet the hold's \(generation)"))
            } else if record.status != "synced" {
                laggards.append((record.name, record.status))
            } else if let inFlight = record.heldWritesInFlight {
                if inFlight > 0 { laggards.append((record.name, "\(inFlight) write(s) in flight")) }
            } else {
                laggards.append((record.name, "writes in flight not reported yet"))
            }
        }
        return laggards.sorted { $0.name < $1.name }.map { "\($0.name) (\($0.why))" }
    }
}
