import Foundation

/// The change-management report: audit records since a date, as CSV or JSON, with who
/// (uid and name), what (command, reason, before → after), which generation and when.
public enum AuditExport {
    public enum Format: String, Sendable, CaseIterable {
        case csv, json
    }

    /// A `--since` that is not a date.
    public struct BadDate: Error, CustomStringConvertible {
        public let description: String
    }

    /// `2026-11-30` (midnight UTC) or an ISO 8601 time (`2026-11-30T08:00:00Z`).
    public static func parseDate(_ text: String) throws(BadDate) -> Date {
        let full = ISO8601DateFormatter()
        full.formatOptions = [.withInternetDateTime]
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        for formatter in [full, fractional, day] {
            if let date = formatter.date(from: text) { return date }
        }
        throw BadDate(description: "--since \(text): not a date; give 2026-11-30 or 2026-11-30T08:00:00Z")
    }

    /// The records of `text` (an audit log) written at or after `since`, in file order.
    /// Lines that are not records are skipped here; `AuditVerifier` is what reports them.
    static func records(_ text: String, since: Date) -> [AuditLog.Record] {
        let decoder = JSONDecoder()
        let stamp = ISO8601DateFormatter()
        stamp.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return text.split(separator: "\n").compactMap { line in
            guard let record = try? decoder.decode(AuditLog.Record.self, from: Data(line.utf8)),
                  let time = stamp.date(from: record.time), time >= since else { return nil }
            return record
        }
    }

    public static let columns = ["time", "outcome", "uid", "user", "pid", "command", "reason", "changes",
                                 "generation_before", "generation", "error"]

    /// The report of `text`'s records since `since`.
    public static func render(_ text: String, since: Date, format: Format) -> String {
        let rows = records(text, since: since).map(row)
        switch format {
        case .csv:
            return ([columns] + rows).map { $0.map(csvCell).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
        case .json:
            let objects = rows.map { Dictionary(uniqueKeysWithValues: zip(columns, $0)) }
            let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted])) ?? Data("[]".utf8)
            return String(decoding: data, as: UTF8.self) + "\n"
        }
    }

    private static func row(_ record: AuditLog.Record) -> [String] {
        [record.time, record.outcome, "\(record.uid)", record.user, "\(record.pid)", record.command, record.reason ?? "",
         (record.changes ?? []).joined(separator: "; "), record.generationBefore.map { "\($0)" } ?? "",
         record.generation.map { "\($0)" } ?? "", record.error ?? ""]
    }

    /// RFC 4180 quoting; a cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
    /// tab, CR first) gets a leading `'`, since reasons and commands are typed by people.
    static func csvCell(_ value: String) -> String {
        var value = value
        if let first = value.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { value = "'" + value }
        // By scalar: "\r\n" is one Character, equal to neither "\n" nor "\r", and a cell
        // holding it went out unquoted (its line break ended the row).
        guard value.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
