import Foundation

/// The audit trail: one JSON line per accepted or refused change, appended and fsync'd
/// before the command is answered.
public struct AuditLog: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public struct Record: Codable, Sendable {
        var time: String
        var outcome: String          // "accepted", "refused", "warning", "refusals-not-recorded"
        var uid: UInt32
        var pid: Int32
        var user: String
        var command: String
        var reason: String?
        var changes: [String]?
        var error: String?
        var generationBefore: UInt64?
        var generation: UInt64?
        /// For "refusals-not-recorded": how many.
        var count: Int? = nil
    }

    /// Appends `record` with its command, reason and error cut to `AdminText.storedLimit`
    /// bytes each (saying so): what a caller typed does not decide how much we write.
    func append(_ record: Record) throws(AdminError) {
        var record = record
        record.command = AdminText.stored(record.command)
        record.reason = record.reason.map(AdminText.stored)
        record.error = record.error.map(AdminText.stored)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try encoder.encode(record) } catch { throw AdminError("cannot encode audit record: \(error)") }
        try DurableFile.appendLine(path, String(decoding: data, as: UTF8.self))
    }

    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}
