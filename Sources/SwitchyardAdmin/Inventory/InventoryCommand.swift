import Foundation
import SwitchyardProxy
import SwitchyardRouting

/// `inventory [ROUTE] [--since 24h] [--json]` and `inventory export --format csv [ROUTE]`:
/// read-only, like `status` (anyone who may read status may run it; nothing is audited).
enum InventoryCommand {
    static let usage = "usage: inventory [ROUTE] [--since 24h|DATE] [--json] | inventory export --format csv [ROUTE] [--since …]"

    static func run(_ service: AdminService, _ command: AdminCommandLine) throws(AdminError) -> AdminAnswer {
        var words = Array(command.words.dropFirst())
        var export = false
        if words.first == "export" {
            export = true
            words.removeFirst()
            guard command.format == "csv" else { throw AdminError("inventory export needs --format csv") }
        } else if command.format != nil {
            throw AdminError("--format goes with inventory export")
        }
        guard words.count <= 1 else { throw AdminError(usage) }
        let route = words.first
        if let route, service.table.routeIndex(named: route) == nil {
            let known = service.table.routes.map(\.name).joined(separator: ", ")
            throw AdminError("unknown route \"\(route)\" (routes: \(known))")
        }
        let since = try command.since.map { (text) throws(AdminError) in try SinceOption.parse(text, now: Date()) }
        let report = InventoryReport(snapshot: service.inventory(), table: service.table, route: route, since: since)
        if export { return .success(report.csv(), json: ["csv": report.csv()]) }
        return .success(report.text(), json: report.json())
    }
}

/// `--since 24h` (a duration back from now: s, m, h, d) or a date (`2026-11-30`, UTC) or an
/// ISO 8601 time.
enum SinceOption {
    static func parse(_ text: String, now: Date) throws(AdminError) -> Date {
        let units: [(Character, Double)] = [("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        // Ten years back at most, and never before 1970: the reports print seconds since then.
        if let last = text.last, let unit = units.first(where: { $0.0 == last }),
           let n = Double(text.dropLast()), n >= 0, n.isFinite, n * unit.1 <= 3650 * 86_400,
           now.timeIntervalSince1970 - n * unit.1 >= 0 {
            return now.addingTimeInterval(-n * unit.1)
        }
        let date: Date
        do {
            date = try AuditExport.parseDate(text)
        } catch {
            throw AdminError("--since \(text): give a duration up to ten years (30m, 24h, 7d) or a date (2026-11-30, 2026-11-30T08:00:00Z)")
        }
        guard date.timeIntervalSince1970 >= 0 else { throw AdminError("--since \(text): a date from 1970 on") }
        return date
    }
}

extension AdminService {
    /// The inventory now: every worker's tables merged, plus what earlier runs saved.
    func inventory() -> InventorySnapshot { inventoryStore.inventory(live: dataPlane.inventorySnapshot()) }

    /// The decision log: earlier runs' records and every worker's.
    func decisions() -> [DecisionRecord] { inventoryStore.decisions(live: dataPlane.decisionRecords()) }

    /// Saves the inventory and the decision log every minute until `saveInventory(final: true)`.
    public func startSavingInventory(everySeconds seconds: Double = 60) {
        inventoryStore.startSaving(dataPlane, every: seconds, errorLog: errorLog)
    }

    /// Saves now; with `final`, no periodic save follows (call before the proxy shuts down).
    public func saveInventory(final: Bool = false) {
        do { try inventoryStore.save(dataPlane, final: final) } catch { errorLog.error("saving the inventory: \(error.message)") }
    }

    /// An upgrade's hand-over (the old process, before the new one says `ready`): the counts
    /// saved for the new process to read.
    func saveCountsForHandOver() {
        saveInventory()
        do { try compareStore.save() } catch { errorLog.error("saving the comparison: \(error.message)") }
    }

    /// An upgrade's hand-over done (the old process): no save from here on.
    func stopSavingCounts() {
        inventoryStore.stop()
        compareStore.stop()
    }

    /// An upgrade's new process, once the old one has handed over: the counts it saved at
    /// that moment become the baseline (the files read at start were up to a minute old,
    /// and the next save here would have written them over, losing that minute for good).
    public func reloadCountsAfterTakeOver() {
        inventoryStore.reloadBaseline(errorLog: errorLog)
        compareStore.reload(errorLog: errorLog)
    }
}
