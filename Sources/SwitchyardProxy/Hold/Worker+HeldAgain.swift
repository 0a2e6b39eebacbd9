import SwitchyardRouting
import SwitchyardSystem

extension Worker {
    /// After a table is installed: every parked write whose route the table holds takes that
    /// hold's max-wait as its bound, if it is sooner (`heldAgain`). Most tables hold nothing
    /// new, and the queue is short: a walk over it per publish, never per request.
    func applyHolds(of table: RouteTable) {
        guard !hold.parked.isEmpty else { return }
        let now = Clock.monotonicMilliseconds()
        for connection in hold.parked where connection.phase == .parked {
            guard let name = connection.routeName, let index = table.routeIndex(named: name),
                  let held = table.routes[index].hold else { continue }
            connection.heldAgain(maxWaitMilliseconds: UInt64(held.state.maxWaitSeconds) * 1000, now: now)
        }
    }
}
