import Foundation

/// One inventory row, merged over the workers.
public struct InventoryRow: Sendable, Equatable, Codable {
    /// The route's name, then the row's parts: a host, a product token, a protocol and TLS
    /// version, a backend + method + path template… (see `InventorySection`).
    public var parts: [String]
    /// `InventoryNetwork.encoded` for rows per network (callers, clients), else 0.
    public var network: UInt64
    public var count: UInt64
    /// Unix seconds.
    public var firstSeen: UInt64
    public var lastSeen: UInt64
    public var pinned: UInt64
    public var errors: UInt64
    public var longestMilliseconds: UInt64

    public init(parts: [String], network: UInt64 = 0, count: UInt64, firstSeen: UInt64, lastSeen: UInt64,
                pinned: UInt64 = 0, errors: UInt64 = 0, longestMilliseconds: UInt64 = 0) {
        self.parts = parts
        self.network = network
        self.count = count
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.pinned = pinned
        self.errors = errors
        self.longestMilliseconds = longestMilliseconds
    }

    public var route: String { parts.first ?? "" }

    /// Counts summed, first seen the earliest, last seen and longest the latest/longest.
    mutating func absorb(_ other: InventoryRow) {
        count &+= other.count
        firstSeen = min(firstSeen, other.firstSeen)
        lastSeen = max(lastSeen, other.lastSeen)
        pinned &+= other.pinned
        errors &+= other.errors
        longestMilliseconds = max(longestMilliseconds, other.longestMilliseconds)
    }
}

/// The inventory of every worker, merged (plus, in the admin layer, what a previous run
/// saved). Rows per section, most requests first; `other` counts requests whose keys were
/// not kept (see `HeavyHitterTable`).
public struct InventorySnapshot: Sendable, Equatable, Codable {
    public var rows: [String: [InventoryRow]] = [:]
    public var other: [String: UInt64] = [:]

    public init() {}

    public func rows(_ section: InventorySection) -> [InventoryRow] { rows[section.name] ?? [] }
    public func other(_ section: InventorySection) -> UInt64 { other[section.name] ?? 0 }

    /// Reads table blocks laid out as `WorkerInventory.copy(into:)` writes them.
    static func decode(_ blocks: [UnsafeRawPointer]) -> InventorySnapshot {
        var merged: [InventorySection: [RowKey: InventoryRow]] = [:]
        var snapshot = InventorySnapshot()
        for block in blocks {
            var offset = 0
            for section in InventorySection.allCases {
                let base = block + offset
                let other = base.load(as: UInt64.self)
                let slots = Int(base.load(fromByteOffset: 8, as: UInt64.self))
                snapshot.other[section.name, default: 0] &+= other
                for i in 0..<slots {
                    let slot = (base + HeavyHitterTable.headerBytes + i * HeavyHitterTable.slotBytes).assumingMemoryBound(to: UInt64.self)
                    typealias W = HeavyHitterTable.Word
                    guard slot[W.hash] != 0 else { continue }
                    let textCount = min(Int(slot[W.textCount]), HeavyHitterTable.textCapacity)
                    let text = UnsafeRawBufferPointer(start: UnsafeRawPointer(slot) + HeavyHitterTable.textOffset, count: textCount)
                    let parts = text.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
                    let row = InventoryRow(parts: parts, network: slot[W.network], count: slot[W.count],
                                           firstSeen: slot[W.firstSeen], lastSeen: slot[W.lastSeen], pinned: slot[W.pinned],
                                           errors: slot[W.errors], longestMilliseconds: slot[W.longest])
                    merged[section, default: [:]][RowKey(parts: parts, network: row.network), default: row.zeroed].absorb(row)
                }
                offset += HeavyHitterTable.headerBytes + slots * HeavyHitterTable.slotBytes
            }
        }
        for (section, rows) in merged { snapshot.rows[section.name] = Array(rows.values) }
        snapshot.sort()
        return snapshot
    }

    /// This snapshot plus `other` (a saved one): rows with the same key absorbed.
    public func adding(_ other: InventorySnapshot) -> InventorySnapshot {
        var result = self
        for (name, rows) in other.rows {
            var byKey: [RowKey: InventoryRow] = [:]
            for row in result.rows[name] ?? [] { byKey[RowKey(parts: row.parts, network: row.network)] = row }
            for row in rows { byKey[RowKey(parts: row.parts, network: row.network), default: row.zeroed].absorb(row) }
            result.rows[name] = Array(byKey.values)
        }
        for (name, count) in other.other { result.other[name, default: 0] &+= count }
        result.sort()
        result.keepRows(Self.rowLimit)
        return result
    }

    /// Rows kept per section by a merge: the saved inventory is the last file plus the live
    /// tables, so without a cap every restart (new caller networks, paths that do not fold)
    /// added to it for ever. The least-counted rows beyond go into the section's `other`.
    public static let rowLimit = 16_384

    /// Keeps the `limit` most-counted rows of each section (they are sorted), the rest's
    /// requests counted in `other`.
    mutating func keepRows(_ limit: Int) {
        for name in rows.keys where rows[name]!.count > limit {
            let dropped = rows[name]![limit...].reduce(UInt64(0)) { $0 &+ $1.count }
            rows[name]!.removeSubrange(limit...)
            other[name, default: 0] &+= dropped
        }
    }

    mutating func sort() {
        for name in rows.keys {
            rows[name]!.sort { a, b in a.count != b.count ? a.count > b.count : (a.parts, a.network) < (b.parts, b.network) }
        }
    }

    private struct RowKey: Hashable {
        var parts: [String]
        var network: UInt64
    }
}

private func < (a: ([String], UInt64), b: ([String], UInt64)) -> Bool {
    let (pa, na) = a, (pb, nb) = b
    for (x, y) in zip(pa, pb) where x != y { return x < y }
    if pa.count != pb.count { return pa.count < pb.count }
    return na < nb
}

extension InventoryRow {
    /// The same key with nothing counted: what a merge starts from.
    var zeroed: InventoryRow {
        InventoryRow(parts: parts, network: network, count: 0, firstSeen: .max, lastSeen: 0)
    }
}

extension InventorySection {
    /// The section's name in JSON and CSV.
    public var name: String {
        switch self {
        case .callers: return "callers"
        case .hosts: return "hosts"
        case .serverNames: return "sni"
        case .clients: return "clients"
        case .protocols: return "protocols"
        case .tunnels: return "tunnels"
        case .endpoints: return "endpoints"
        }
    }
}

extension Proxy {
    /// Every worker's inventory tables, merged. Each worker copies its tables into memory
    /// this thread allocated, on its own loop, allocating nothing of its own (the hand-off
    /// `metricsSnapshot` uses). Not for a worker's thread.
    public func inventorySnapshot() -> InventorySnapshot {
        let size = WorkerInventory.bytes
        let whole = InventoryCopyTarget(base: UnsafeMutableRawPointer.allocate(byteCount: size * settings.workers, alignment: 8))
        defer { whole.base.deallocate() }
        _ = onEveryWorker { worker in
            worker.inventory.copy(into: whole.base + worker.index * size)
            return true
        }
        return InventorySnapshot.decode((0..<settings.workers).map { UnsafeRawPointer(whole.base + $0 * size) })
    }

    /// The decision log of every worker: the records of the last `decisionLogRecords`
    /// routed requests (each worker's share), in no particular order across workers.
    public func decisionRecords() -> [DecisionRecord] {
        let capacity = (settings.decisionLogRecords + settings.workers - 1) / settings.workers
        let whole = UnsafeMutablePointer<DecisionRecord>.allocate(capacity: capacity * settings.workers)
        defer { whole.deallocate() }
        let target = DecisionCopyTarget(base: whole)
        let counts = onEveryWorker { worker in
            worker.inventory.decisions.copy(into: target.base + worker.index * capacity)
        }
        var records: [DecisionRecord] = []
        records.reserveCapacity(counts.reduce(0, +))
        for (w, n) in counts.enumerated() {
            records.append(contentsOf: UnsafeBufferPointer(start: whole + w * capacity, count: n))
        }
        return records
    }

    /// Takes both copies once, at start: their first run on a worker instantiates runtime
    /// metadata (an allocation on the worker's thread), which must not happen later, during
    /// traffic, when a first `inventory` or cutover-page poll arrives.
    func warmInventoryCopies() {
        _ = inventorySnapshot()
        _ = decisionRecords()
    }

    /// The memory the inventory tables take in each worker, whatever the traffic.
    public static var inventoryBytesPerWorker: Int { WorkerInventory.bytes }
}

/// Memory the admin thread owns and a worker copies into while the admin thread waits
/// (`Proxy.onEveryWorker`), so the hand-off is ordered by that wait.
struct InventoryCopyTarget: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
}

struct DecisionCopyTarget: @unchecked Sendable {
    let base: UnsafeMutablePointer<DecisionRecord>
}
