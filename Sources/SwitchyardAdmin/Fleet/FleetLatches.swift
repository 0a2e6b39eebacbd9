import Foundation
import SwitchyardRouting
import SwitchyardSystem

/// A guard's trip as the fleet keeps it: in `latches`, one JSON object by `route/guard`. A
/// trip latches the whole fleet, not only the instance whose traffic tripped it: a raise of
/// the new side typed on any instance, or a plan's step on any instance, is refused until a
/// `guard ROUTE ack` on any instance takes the latch out of the store. The route and new
/// side travel with it, so an instance whose routes file lacks the guard still refuses.
struct FleetLatch: Codable, Equatable, Sendable {
    var route: String
    var guardName: String
    var newSide: String
    /// `freeze` or `revert` (an `observe` guard latches nothing).
    var mode: String
    var time: String
    var figures: String
    /// The instance whose evaluator tripped it.
    var instance: String

    private enum CodingKeys: String, CodingKey {
        case route, guardName = "guard", newSide = "new", mode, time, figures, instance
    }

    /// The document in `latches`. Anyone with access to etcd writes there: the texts are
    /// screened as the state document's are, and one that does not parse is an error the
    /// caller names (never a crash, never silently no latch).
    static func decode(_ data: Data) throws(AdminError) -> [String: FleetLatch] {
        let latches: [String: FleetLatch]
        do {
            latches = try JSONDecoder().decode([String: FleetLatch].self, from: data)
        } catch {
            throw AdminError("the fleet's latches document does not parse")
        }
        var screened: [String: FleetLatch] = [:]
        for (key, latch) in latches {
            screened[AdminText.screened(key)] = FleetLatch(
                route: AdminText.screened(latch.route), guardName: AdminText.screened(latch.guardName),
                newSide: AdminText.screened(latch.newSide), mode: AdminText.screened(latch.mode),
                time: AdminText.screened(latch.time), figures: AdminText.screened(latch.figures),
                instance: AdminText.screened(latch.instance))
        }
        return screened
    }

    static func encode(_ latches: [String: FleetLatch]) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(latches) else { preconditionFailure("latches always encode") }
        return data
    }
}

/// The latches as last read from the store, and the store revision of that read: a trip
/// published at revision R is known to be acknowledged elsewhere only when a read after R no
/// longer has it.
struct FleetLatchView: Sendable {
    var revision: Int64
    /// The `latches` key's own mod_revision (0: absent), which a change's transaction checks.
    var modRevision: Int64
    var latches: [String: FleetLatch]
    /// The document did not parse: `latches` are those of the last good read (still
    /// refused), and nothing is adopted or taken as acknowledged from this one.
    var unreadable = false
}

extension FleetAgent {
    /// Reads `latches`. A document that does not parse (someone wrote the key by hand) is
    /// said once per write of it and read as the last good one, marked `unreadable`: read as
    /// none, every instance would have taken every latch for acknowledged and opened it. The
    /// next trip or ack writes a good document over it.
    func readLatches(using client: EtcdClient) throws(EtcdError) -> FleetLatchView {
        let read = try client.range(keys.latches)
        guard let kv = read.kvs.first else { return FleetLatchView(revision: read.revision, modRevision: 0, latches: [:]) }
        do {
            return FleetLatchView(revision: read.revision, modRevision: kv.modRevision, latches: try FleetLatch.decode(kv.value))
        } catch {
            let first = unreadableLatches.withLock { logged in
                defer { logged = kv.modRevision }
                return logged != kv.modRevision
            }
            if first {
                errorLog.error("fleet \(config.name): \(error.message) (written at store revision \(kv.modRevision)); the latches read before it stay in force, and the next trip or `guard ROUTE ack` writes a good one")
            }
            var view = FleetLatchView(revision: read.revision, modRevision: kv.modRevision, latches: latches?.latches ?? [:])
            view.unreadable = true
            return view
        }
    }

    /// Keeps `view` unless a newer one is already known (the heartbeat's read may end after a
    /// commit's).
    func noteLatches(_ view: FleetLatchView) {
        latchView.withLock { current in
            if current == nil || current!.revision <= view.revision { current = view }
        }
    }

    /// The latches as last read (nil before the first read).
    var latches: FleetLatchView? { latchView.withLock { $0 } }

    /// Changes `latches` in the store: read, `change`, a transaction guarded by the key's
    /// mod_revision (another instance's trip or ack in between: read again, at most 3
    /// times). Nothing to change: nothing written. Returns the view after. Under the commit
    /// lock, on the admin side's client.
    @discardableResult
    func updateLatches(_ change: (inout [String: FleetLatch]) -> Void) throws(AdminError) -> FleetLatchView {
        // Detached: not tried (each try waits for etcd under the commit lock).
        if let refusal = currentLink().changeRefusal { throw AdminError(refusal) }
        var lastError = "another instance changed them at the same time, 3 times"
        for _ in 0..<3 {
            do {
                let read = try readLatches(using: commitClient)
                var latches = read.latches
                change(&latches)
                if latches == read.latches && !read.unreadable {
                    noteLatches(read)
                    return read
                }
                let result = try commitClient.txn([.modRevision(keys.latches, read.modRevision)],
                                                  puts: [(keys.latches, FleetLatch.encode(latches))], readOnFailure: keys.latches)
                guard result.succeeded else { continue }
                link.withLock { $0.callSucceeded(nowMilliseconds: Clock.monotonicMilliseconds()) }
                let view = FleetLatchView(revision: result.revision, modRevision: result.revision, latches: latches)
                noteLatches(view)
                return view
            } catch {
                // A put whose answer was lost is safe to repeat: the next read shows it.
                commitClient.rotate()
                lastError = error.description
            }
        }
        throw AdminError("fleet \(config.name): cannot write the guards' latches (\(lastError))")
    }
}
