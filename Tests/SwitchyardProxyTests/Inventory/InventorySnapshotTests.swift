import Testing
import SwitchyardProxy

/// The saved inventory is the last file plus the live tables: a merge keeps the most-counted
/// rows of each section up to `rowLimit`, the rest counted in `other`. Without the cap every
/// restart added its rows to the file for ever.
@Suite struct InventorySnapshotTests {
    @Test func aMergeKeepsTheMostCountedRowsAndCountsTheRestAsOther() {
        var saved = InventorySnapshot()
        saved.rows["endpoints"] = (0..<20_000).map { InventoryRow(parts: ["app", "GET /a/\($0)"], count: UInt64($0 + 1), firstSeen: 1, lastSeen: 2) }
        saved.other["endpoints"] = 7
        var live = InventorySnapshot()
        live.rows["endpoints"] = (0..<5_000).map { InventoryRow(parts: ["app", "GET /b/\($0)"], count: 100_000, firstSeen: 3, lastSeen: 4) }
        let merged = live.adding(saved)
        let rows = merged.rows["endpoints"] ?? []
        #expect(rows.count == InventorySnapshot.rowLimit)
        let total = UInt64(5_000) * 100_000 + (1...20_000).reduce(UInt64(0)) { $0 + UInt64($1) } + 7
        #expect(rows.reduce(UInt64(0)) { $0 + $1.count } + (merged.other["endpoints"] ?? 0) == total, "no request lost from the counts")
        #expect(rows.prefix(5_000).allSatisfy { $0.count == 100_000 }, "the live rows, most counted, are kept")
        #expect(rows.last?.count == UInt64(20_000 - (InventorySnapshot.rowLimit - 5_000) + 1), "then the saved rows from the top")
    }
}
