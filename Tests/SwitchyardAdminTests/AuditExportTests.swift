import Foundation
import Testing
@testable import SwitchyardAdmin
import SwitchyardTestSupport

/// `switchyard audit export`: the change-management report, as a process.
@Suite struct AuditExportTests {
    @Test func csvAndJSONSinceADateCarryWhoWhatAndWhy() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("weight app cloud 20% --reason \"CHG-1, approved\"").ok)
        #expect(h.run("flip auth --reason \"=HYPERLINK(1)\"").ok)
        let binary = try switchyardBinary()

        let csv = try runProcess(binary, ["audit", "export", "--since", "2000-01-01", h.auditPath], standardError: .discarded)
        #expect(csv.status == 0, "\(csv.output)")
        let rows = csv.output.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(rows.first == AuditExport.columns.joined(separator: ","))
        #expect(rows.count == 3, "\(rows)")
        #expect(rows[1].contains(",accepted,0,root,1,\"weight app cloud 20% --reason \"\"CHG-1, approved\"\"\",\"CHG-1, approved\",app legacy 90.00% → 80.00%; app cloud 10.00% → 20.00%,1,2,"), "\(rows[1])")
        // A reason a spreadsheet would run as a formula is kept as text.
        #expect(rows[2].contains(",'=HYPERLINK(1),"), "\(rows[2])")

        let json = try runProcess(binary, ["audit", "export", "--since", "2000-01-01T00:00:00Z", "--format", "json", h.auditPath],
                                  standardError: .discarded)
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: String]])
        #expect(objects.count == 2 && objects[0]["reason"] == "CHG-1, approved" && objects[0]["generation"] == "2"
                && objects[0]["user"] == "root" && objects[0]["uid"] == "0", "\(objects)")

        // Nothing since tomorrow; a date that is not one; a format that is not one.
        let tomorrow = ISO8601DateFormatter.string(from: Date().addingTimeInterval(86_400), timeZone: .gmt, formatOptions: [.withFullDate])
        let none = try runProcess(binary, ["audit", "export", "--since", tomorrow, h.auditPath], standardError: .discarded)
        #expect(none.output.components(separatedBy: "\r\n").filter { !$0.isEmpty }.count == 1, "\(none.output)")
        let badDate = try runProcess(binary, ["audit", "export", "--since", "yesterday", h.auditPath])
        #expect(badDate.status == 2 && badDate.output.contains("--since yesterday: not a date"), "\(badDate.output)")
        let badFormat = try runProcess(binary, ["audit", "export", "--since", "2000-01-01", "--format", "xml", h.auditPath])
        #expect(badFormat.status == 2 && badFormat.output.contains("--format xml"), "\(badFormat.output)")
    }

    /// A cell with CRLF is quoted: "\r\n" is one Swift Character, equal to neither "\r" nor
    /// "\n", and such a cell went out bare — its line break ended the row and the next
    /// text started one of its own (a formula a spreadsheet runs). The inventory's export
    /// (a TLS name from any client) takes the same cells.
    @Test func aCellWithALineBreakOfAnyKindIsQuoted() {
        #expect(AuditExport.csvCell("a\r\n=1+cmd") == "\"a\r\n=1+cmd\"")
        #expect(AuditExport.csvCell("a\n=1") == "\"a\n=1\"")
        #expect(AuditExport.csvCell("a\r=1") == "\"a\r=1\"")
        #expect(AuditExport.csvCell("=1") == "'=1")
        #expect(AuditExport.csvCell("plain") == "plain")
    }

    @Test func anExportOfABrokenChainSaysWhereAndExitsOne() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("weight app cloud 20%").ok)
        #expect(h.run("weight app cloud 30%").ok)
        var text = try String(contentsOfFile: h.auditPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "20.00%", with: "25.00%")
        try text.write(toFile: h.auditPath, atomically: false, encoding: .utf8)
        let export = try runProcess(try switchyardBinary(), ["audit", "export", "--since", "2000-01-01", h.auditPath])
        #expect(export.status == 1 && export.output.contains("audit.log:1: record 1 (line 1) was altered"), "\(export.output)")
    }
}
