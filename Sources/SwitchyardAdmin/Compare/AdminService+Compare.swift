import Foundation
import SwitchyardCompare
import SwitchyardRouting

/// The admin side of mirror and compare: where the data plane's samples come in, the
/// report, and its saving.
extension AdminService {
    /// THE ENTRY POINT for mirrored pairs from the data plane: hands `samples` to the
    /// comparer's own thread (`CompareInbox`, bounded: pairs over its backlog are dropped and
    /// counted) and returns at once. Called by the guard evaluator's once-a-second tick with
    /// what `DataPlane.drainMirrorSamples()` returned (see `GuardEvaluator.start`).
    public func enqueueMirrorSamples(_ samples: [MirrorSample]) {
        compareInbox.offer(samples)
    }

    /// Compares `samples` now, on the caller's thread, and folds them into the report
    /// (what the inbox's thread does with each batch; tests call it directly). Takes the
    /// comparison's own lock, never the commit lock; samples of routes no longer in the
    /// routes file are dropped.
    public func ingestMirrorSamples(_ samples: [MirrorSample], now: Date = Date()) {
        guard !samples.isEmpty else { return }
        let routes = compareRules()
        compareStore.ingest(samples, now: now) { routes[$0] }
    }

    /// The inbox of a service being built: it compares with the rules of the table in force
    /// when each batch is taken.
    static func compareInbox(store: CompareStore, dataPlane: DataPlane) -> CompareInbox {
        CompareInbox { samples in
            let routes = compareRules(dataPlane.table)
            store.ingest(samples, now: Date()) { routes[$0] }
        }
    }

    /// Waits until every pair handed to `enqueueMirrorSamples` was compared; false after
    /// `seconds` (tests).
    @discardableResult
    public func waitForComparisons(seconds: Double = 10) -> Bool {
        compareInbox.waitUntilIdle(seconds: seconds)
    }

    /// Pairs the comparer dropped because its backlog was full.
    var comparisonsDropped: UInt64 { compareInbox.dropped }

    /// Every http route's `compare` rules, by name (from the table in force).
    func compareRules() -> [String: CompareRules] { Self.compareRules(table) }

    static func compareRules(_ table: RouteTable) -> [String: CompareRules] {
        var rules: [String: CompareRules] = [:]
        for route in table.routes where route.mode == .http { rules[route.name] = route.config.compare }
        return rules
    }

    /// The report for `route` (nil: every http route that has compared anything).
    func compareReport(route: String?) -> CompareReport {
        let book = compareStore.book
        let rules = compareRules()
        let names: [String]
        if let route { names = [route] } else {
            names = table.routes.filter { $0.mode == .http && book.routes[$0.name] != nil }.map(\.name)
        }
        return CompareReport(book: book, routes: names.map { ($0, rules[$0] ?? CompareRules()) }, now: Date().timeIntervalSince1970)
    }

    /// Saves the comparison every minute until `saveComparison(final: true)`.
    public func startSavingComparison(everySeconds seconds: Double = 60) {
        compareStore.startSaving(every: seconds, errorLog: errorLog)
    }

    /// Saves now; with `final`, no periodic save follows (call before the proxy shuts down).
    public func saveComparison(final: Bool = false) {
        // The shutdown's save counts what was handed over first (a few seconds at most).
        if final { compareInbox.stop(seconds: 5) }
        do { try compareStore.save(final: final) } catch { errorLog.error("saving the comparison: \(error.message)") }
    }
}
