import Glibc

/// The inventory's kinds of rows, each a `HeavyHitterTable` of its own size.
public enum InventorySection: Int, CaseIterable, Sendable {
    /// route, network: requests, first/last seen, requests a cohort pinned.
    case callers
    /// route, Host / :authority value (lower-cased, as sent).
    case hosts
    /// route, TLS SNI name.
    case serverNames
    /// route, network, User-Agent product token.
    case clients
    /// route, HTTP version, TLS version.
    case protocols
    /// route, kind (websocket): count, longest lifetime.
    case tunnels
    /// route, backend, method, path template: requests, errors.
    case endpoints

    /// Slots per worker. The sum × 256 bytes is the per-worker bound (`WorkerInventory.bytes`).
    var capacity: Int {
        switch self {
        case .callers: return 4096
        case .hosts: return 512
        case .serverNames: return 256
        case .clients: return 4096
        case .protocols: return 128
        case .tunnels: return 128
        case .endpoints: return 4096
        }
    }
}

/// One worker's inventory tables and decision log, preallocated at start: recording a
/// request writes into them in place (see `DownstreamConnection+Inventory`). Touched on the
/// worker's loop thread only; the admin thread gets copies through `Proxy.onEveryWorker`.
final class WorkerInventory {
    let tables: [HeavyHitterTable]
    let key = InventoryKey()
    let decisions: DecisionLog
    /// The tables every request writes, also as properties of their own: reading an
    /// array element retains it, reading a `let` property of a borrowed object does not.
    let callers, hosts, serverNames, clients, protocols, endpoints: HeavyHitterTable

    /// `decisionCapacity`: this worker's share of the process's decision log.
    init(decisionCapacity: Int) {
        let tables = InventorySection.allCases.map { HeavyHitterTable(capacity: $0.capacity) }
        self.tables = tables
        callers = tables[InventorySection.callers.rawValue]
        hosts = tables[InventorySection.hosts.rawValue]
        serverNames = tables[InventorySection.serverNames.rawValue]
        clients = tables[InventorySection.clients.rawValue]
        protocols = tables[InventorySection.protocols.rawValue]
        endpoints = tables[InventorySection.endpoints.rawValue]
        decisions = DecisionLog(capacity: decisionCapacity)
    }

    @inline(__always)
    func table(_ section: InventorySection) -> HeavyHitterTable { tables[section.rawValue] }

    /// The inventory tables' bytes (the decision log not included): the per-worker bound.
    static var bytes: Int {
        InventorySection.allCases.reduce(0) { total, section in
            let slots = (section.capacity + HeavyHitterTable.ways - 1) / HeavyHitterTable.ways * HeavyHitterTable.ways
            return total + HeavyHitterTable.headerBytes + slots * HeavyHitterTable.slotBytes
        }
    }

    /// Copies every table, one after the other in section order, into `target` (which
    /// holds `WorkerInventory.bytes`). Allocates nothing.
    func copy(into target: UnsafeMutableRawPointer) {
        var offset = 0
        var i = 0
        while i < tables.count {
            tables[i].copy(into: target + offset)
            offset += tables[i].bytes
            i += 1
        }
    }
}
