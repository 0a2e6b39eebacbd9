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
    func holdLaggards(generation: UInt64, using client: EtcdClient) -> [String] {
        let instances: [EtcdKeyValue], members: [EtcdKeyValue]
        do {
            instances = try client.range(keys.instances, prefix: true).kvs
            members = try client.range(keys.members, prefix: true).kvs
        } catch {
            client.rotate()
            return ["(the fleet's instance records are unreadable: \(error))"]
        }
        let records = Dictionary(instances.compactMap { kv in
            (try? JSONDecoder().decode(FleetInstanceRecord.self, from: kv.value)).map { ($0.name, $0.screened) }
        }, uniquingKeysWith: { first, _ in first })
        var names = Set(members.map { String(decoding: $0.value, as: UTF8.self) })
        names.formUnion(records.keys)
        return names.subtracting([instanceName]).sorted().compactMap { name -> String? in
            let shown = AdminText.screened(name)
            guard let record = records[name] else {
                return "\(shown) (no live record: detached or gone; a retired instance is removed with `etcdctl del \(keys.member(name))`)"
            }
            if record.generation < generation { return "\(shown) (generation \(record.generation), not yet the hold's \(generation))" }
            if record.status != "synced" { return "\(shown) (\(record.status))" }
            guard let inFlight = record.heldWritesInFlight else { return "\(shown) (writes in flight not reported yet)" }
            return inFlight == 0 ? nil : "\(shown) (\(inFlight) write(s) in flight)"
        }
    }

    /// A client of its own for a follow-up that runs outside the commit lock.
    func followUpClient() -> EtcdClient { EtcdClient(endpoints: config.endpoints, credentials: credentials) }
}
