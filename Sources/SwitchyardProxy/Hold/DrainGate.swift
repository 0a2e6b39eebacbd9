import Synchronization
import SwitchyardRouting
import SwitchyardSystem

/// A released route's writes queue behind the ones its hold parked, until the queue is
/// empty.
///
/// Without it, a write arriving just after `release` went upstream at once while the
/// parked ones were still paced out: a browser's autosave v2 could reach the database
/// before its v1 that had waited through the freeze, and v1 then overwrote it. While a
/// gate is draining, a write on its route (by the rules the hold had) parks at the back of
/// its worker's queue, and the release sends the queue in arrival order across workers.
///
/// Shared by every worker's handle of the tables published while it drains; read on the
/// request path only for writes on a route whose hold just ended (one atomic load).
public final class DrainGate: Sendable {
    /// The ended hold's rules: what counts as a write that must wait.
    let hold: CompiledHold
    /// Monotonic ms past which the gate counts as open, whatever the release does: no
    /// write waits on a release that died (the longest a release runs, as for parked ones).
    let expiresAt: UInt64
    private let opened = Atomic<Bool>(false)
    /// Writes that waited behind this gate: the release that drains it owes each one
    /// send beyond its pace. Counted per gate, not per worker: two releases running at
    /// once each credit only their own routes' writes.
    private let joiners = Atomic<Int>(0)

    init(hold: CompiledHold, now: UInt64) {
        self.hold = hold
        expiresAt = now &+ DownstreamConnection.releaseGraceMilliseconds
    }

    /// Whether a write on the route still waits behind the parked ones.
    @inline(__always)
    func isDraining(now: UInt64) -> Bool {
        !opened.load(ordering: .acquiring) && now < expiresAt
    }

    /// The route's queue is empty: new writes go straight upstream again.
    func open() { opened.store(true, ordering: .releasing) }

    /// A write parks behind this gate (off the request path: only such writes get here).
    func joined() { joiners.add(1, ordering: .relaxed) }

    /// How many writes parked behind this gate so far.
    public var joinedCount: Int { joiners.load(ordering: .relaxed) }
}

extension Proxy {
    /// The gates for `new`, by route index (empty when none drains): a route whose hold
    /// `old` had and `new` has not gets a new gate; a route whose gate still drains keeps
    /// it across tables published meanwhile. Called by `publish` under the control lock.
    func drainGates(from old: RouteTable, to new: RouteTable) -> [DrainGate?] {
        let now = Clock.monotonicMilliseconds()
        var gates = [DrainGate?](repeating: nil, count: new.routes.count)
        var active: [String: DrainGate] = [:]
        for (index, route) in new.routes.enumerated() where route.hold == nil && route.mode == .http {
            let gate: DrainGate?
            if let before = old.routeIndex(named: route.name), let hold = old.routes[before].hold {
                gate = DrainGate(hold: hold, now: now)
            } else if let carried = drainingGates[route.name], carried.isDraining(now: now) {
                gate = carried
            } else {
                gate = nil
            }
            gates[index] = gate
            active[route.name] = gate
        }
        drainingGates = active
        return active.isEmpty ? [] : gates
    }

    /// The gates draining now for `routes`: what a release opens when its queue is empty.
    /// Taken when it starts, so that it opens its own gates only: a route released, held
    /// and released again meanwhile has a new gate, which the first release must not open.
    public func drainGates(of routes: [String]) -> [DrainGate] {
        control.lock()
        defer { control.unlock() }
        return routes.compactMap { drainingGates[$0] }
    }

    /// Opens `gates`: their queues are empty, so writes that come now go upstream at once
    /// (those that joined just before are still released in order).
    public func openDrainGates(_ gates: [DrainGate]) {
        control.lock()
        defer { control.unlock() }
        for gate in gates {
            gate.open()
            for (name, registered) in drainingGates where registered === gate { drainingGates[name] = nil }
        }
    }
}
