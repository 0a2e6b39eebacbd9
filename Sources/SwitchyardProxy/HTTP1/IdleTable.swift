import SwitchyardRouting
import SwitchyardSystem

/// A worker's HTTP/1.1 client connections that have waited for their next request for a
/// while (`ProxySettings.idleReductionMilliseconds`), each reduced to one entry in a
/// contiguous table: its socket and registration, its deadline, who the client is and its
/// TLS session. A waiting `DownstreamConnection` carries a whole exchange's worth of fields
/// (the exchange and its observation, three body decoders, the routing decision, flags and
/// counters: 1.1 KiB); an idle keep-alive connection needs none of them, and a proxy in
/// front of a hospital's browsers holds thousands.
///
/// One table, not one small object per connection: objects made while the connections were
/// busy would sit between the freed connection objects, and the heap could give none of
/// those pages back. The table is the event handler of every idle registration; the loop
/// says which slot an event is for (`EventLoop.eventSlot`).
///
/// `Worker.hibernate` moves a connection in on a tick, off the request path, and only one
/// that every tick for that while found quiescent with no request served in between — a
/// busy keep-alive connection never pays for it. The first event on the socket wakes it
/// (`Worker.wake`): a fresh `DownstreamConnection` takes the entry back in the same loop
/// iteration and handles the event, so the client cannot tell.
final class IdleTable: EventHandler {
    struct Entry {
        let fd: FileDescriptor
        let registration: RegistrationID
        /// When the keep-alive timeout closes it (monotonic ms).
        let deadline: UInt64
        let servedRequests: Int
        /// Who the client is, without the texts (`ClientIdentity` makes them again on
        /// waking: two heap blocks an idle connection does not need).
        let address: ClientAddress
        let listener: Int32
        let trustedForwarder: Bool
        let h2cAllowed: Bool
        let handshakeNoted: Bool
        let tls: TLSTransport?
    }

    /// The worker owns the table; its loop runs it.
    private unowned(unsafe) let worker: Worker
    private(set) var entries: [Entry] = []
    /// Loop registration slot → index in `entries` (−1: not idle).
    private var indexBySlot: [Int32] = []

    init(worker: Worker) {
        self.worker = worker
    }

    var count: Int { entries.count }

    /// Takes `connection`'s waiting state; the caller hands its registration to the table
    /// and drops the connection.
    func add(_ connection: DownstreamConnection) {
        let slot = Int(connection.registration.slot)
        if slot >= indexBySlot.count { indexBySlot.append(contentsOf: repeatElement(-1, count: slot + 1 - indexBySlot.count)) }
        precondition(indexBySlot[slot] == -1, "slot \(slot) is idle already")
        indexBySlot[slot] = Int32(entries.count)
        entries.append(Entry(fd: connection.fd, registration: connection.registration, deadline: connection.deadline,
                             servedRequests: connection.servedRequests, address: connection.client.address,
                             listener: Int32(truncatingIfNeeded: connection.client.listener),
                             trustedForwarder: connection.client.trustedForwarder, h2cAllowed: connection.h2cAllowed,
                             handshakeNoted: connection.handshakeNoted, tls: connection.tls))
    }

    /// Removes and returns the entry at `index` (the last one takes its place).
    func remove(at index: Int) -> Entry {
        let entry = entries[index]
        indexBySlot[Int(entry.registration.slot)] = -1
        let last = entries.removeLast()
        if index < entries.count {
            entries[index] = last
            indexBySlot[Int(last.registration.slot)] = Int32(index)
        }
        return entry
    }

    override func eventsReceived(_ events: UInt32) {
        let slot = Int(worker.loop.eventSlot)
        guard slot < indexBySlot.count, indexBySlot[slot] >= 0 else { return }
        worker.wake(remove(at: Int(indexBySlot[slot]))).eventsReceived(events)
    }

    /// The keep-alive timeout: an idle connection closes, as a waiting one would.
    func tick(now: UInt64) {
        var i = entries.count - 1
        while i >= 0 {
            if i < entries.count, now >= entries[i].deadline { close(at: i) }
            i -= 1
        }
    }

    func close(at index: Int) {
        let entry = remove(at: index)
        worker.loop.deregister(entry.registration)
        entry.fd.close()
        worker.stats.openConnections -= 1
    }

    func closeAll() {
        while !entries.isEmpty { close(at: entries.count - 1) }
    }
}
