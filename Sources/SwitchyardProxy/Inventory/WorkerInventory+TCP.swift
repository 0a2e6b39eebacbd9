import SwitchyardRouting
import SwitchyardSystem

extension WorkerInventory {
    /// A TCP-mode connection ended: its caller's network (with a cohort pin) and a `tcp`
    /// tunnel row with the route's longest connection. Once per connection, allocation-free.
    /// `now`: the worker's wall clock in seconds (`Worker.wallSeconds`), as for every row.
    func recordTCPConnection(route: UnsafeRawBufferPointer, client: ClientAddress, pinned: Bool, milliseconds: UInt64, now: UInt64) {
        key.start(route: route)
        key.network = InventoryNetwork.encoded(client)
        let caller = table(.callers).record(key, now: now)
        if pinned { caller[HeavyHitterTable.Word.pinned] &+= 1 }
        key.start(route: route)
        key.separator()
        key.append("tcp")
        let tunnel = table(.tunnels).record(key, now: now)
        if milliseconds > tunnel[HeavyHitterTable.Word.longest] { tunnel[HeavyHitterTable.Word.longest] = milliseconds }
    }
}
