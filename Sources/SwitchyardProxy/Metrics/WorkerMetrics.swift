import SwitchyardRouting

/// One worker's metrics cells, by route and backend. Cells are created when a table is
/// installed (never per request) and kept for the worker's life, so counters survive table
/// changes; which of them are shown is the scraper's business (the current table's).
///
/// Thread confinement: everything here is touched on the worker's loop thread only.
final class WorkerMetrics {
    private var cellsByKey: [MetricsKey: MetricsCell] = [:]
    /// Every cell in creation order; `keys[i]` is `cells[i].key`. Append-only, so a copy's
    /// key list stays a prefix-compatible description of later copies.
    private var cells: [MetricsCell] = []
    private var keys: [MetricsKey] = []

    /// The cells of a table, route-major: `routeIndex * backends.count + backendIndex`.
    func cells(for table: RouteTable) -> [MetricsCell] {
        var result: [MetricsCell] = []
        result.reserveCapacity(table.config.routes.count * table.config.backends.count)
        for route in table.config.routes {
            for backend in table.config.backends {
                let key = MetricsKey(route: route.name, backend: backend.name)
                if let existing = cellsByKey[key] {
                    result.append(existing)
                } else {
                    let cell = MetricsCell(key: key)
                    cellsByKey[key] = cell
                    cells.append(cell)
                    keys.append(key)
                    result.append(cell)
                }
            }
        }
        return result
    }

    /// Copies every cell's slots, then each server of `handle`'s table (up, open upstream
    /// connections), into `target`. Runs on the worker's thread and allocates nothing, so a
    /// scrape during traffic leaves the hot path's allocation count at zero: index loops
    /// only (an array iterator allocates in unoptimised builds), and the key list is handed
    /// out by reference.
    func copy(into target: MetricsCopyTarget, handle: TableHandle, stats: WorkerStats) -> WorkerMetricsCopy {
        let width = MetricsLayout.width
        var serverSlots = 0
        var b = 0
        while b < handle.servers.count {
            serverSlots += 2 * handle.servers[b].count
            b += 1
        }
        let needed = cells.count * width + serverSlots
        var result = WorkerMetricsCopy(keys: keys, cellCount: cells.count, needed: needed, copied: false,
                                       generation: handle.table.generation, stats: stats)
        guard needed <= target.capacity else { return result }
        var i = 0
        while i < cells.count {
            (target.base + i * width).update(from: cells[i].slots, count: width)
            i += 1
        }
        var offset = cells.count * width
        let now = SwitchyardSystemClock.now()
        b = 0
        while b < handle.servers.count {
            let pools = handle.servers[b]
            var s = 0
            while s < pools.count {
                target.base[offset] = pools[s].isAvailable(now: now) ? 1 : 0
                target.base[offset + 1] = UInt64(max(0, pools[s].openConnections))
                offset += 2
                s += 1
            }
            b += 1
        }
        result.copied = true
        return result
    }
}

/// Memory the scraper owns and a worker copies its counters into. Only the worker writes
/// it, only while the scraper waits for the copy to finish (`Proxy.onEveryWorker`), so the
/// hand-off is ordered by that wait.
struct MetricsCopyTarget: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt64>
    let capacity: Int
}

/// What a worker's copy says about itself.
struct WorkerMetricsCopy: Sendable {
    var keys: [MetricsKey]
    var cellCount: Int
    /// Slots the copy needs; when more than the target holds, nothing was copied.
    var needed: Int
    var copied: Bool
    var generation: UInt64
    var stats: WorkerStats
}
