import SwitchyardCompare
import SwitchyardProxy
import SwitchyardRouting

/// What the admin layer needs from the data plane. `Proxy` is the one implementation; the
/// seam keeps admin logic free of event-loop details.
public protocol DataPlane: AnyObject, Sendable {
    var table: RouteTable { get }
    /// Installs `table` in every worker and returns once all acknowledged.
    /// `reloadingCertificates`: read the `listen https` certificate files again (reload).
    func publish(_ table: RouteTable, reloadingCertificates: Bool) throws
    func backendSnapshots() -> [String: BackendSnapshot]
    /// Counters summed over the workers (connections, protocols, TLS handshakes).
    func stats() -> WorkerStats
    func drainTunnels(to backends: Set<String>, afterMilliseconds: UInt64)
    func closeIdleConnections(to backend: String)
    /// Servers available (healthy, not ejected) and in total, per backend name.
    func serverHealth() -> [String: (up: Int, total: Int)]
    /// The write hold's counters merged over the workers; `routes`: whose writes in flight
    /// upstream to count (by server).
    func holdSnapshot(routes: Set<String>) -> HoldSnapshot
    /// Releases up to `count` parked requests whose route is no longer held, oldest first;
    /// `byClient`: a client's later write waits for its earlier one's answer.
    func releaseParked(count: Int, routes: Set<String>, byClient: Bool) -> HoldSnapshot
    /// The gates draining now for `routes` (`DrainGate`), and their opening: writes on
    /// their routes stop waiting behind the ended hold's queue.
    func drainGates(of routes: [String]) -> [DrainGate]
    func openDrainGates(_ gates: [DrainGate])
    /// Opens the access and error logs again at their paths (logrotate renamed them).
    func reopenLogs() -> LogReopening
    /// The dependency inventory, merged over the workers (off the data plane).
    func inventorySnapshot() -> InventorySnapshot
    /// The decision log's records, for `simulate`.
    func decisionRecords() -> [DecisionRecord]
    /// The mirror's counters per target backend, merged over the workers.
    func mirrorSnapshot() -> MirrorSnapshot
    /// Mirrored pairs completed since the last call, taken off every worker's bounded outbox
    /// (the admin side compares them: `AdminService.enqueueMirrorSamples`).
    func drainMirrorSamples() -> [MirrorSample]
}

extension Proxy: DataPlane {}
