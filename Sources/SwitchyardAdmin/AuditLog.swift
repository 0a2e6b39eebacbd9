import Foundation

/// The audit trail: one JSON line per accepted or refused change, appended and fsync'd
/// before the command is answered, each linked to the one before by `AuditChain`.
public struct AuditLog: Sendable {
    public let path: String
    /// The chain's end, read from the file at the first append and kept from then on.
    private let chain = AuditChainState()

    public init(path: String) { self.path = path }

    public struct Record: Codable, Sendable {
        var time: String
        var outcome: String          // "accepted", "refused", "warning", "refusals-not-recorded", "recovered", "failed" (a guard revert not committed)
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
        /// The first record of a chain: the random id its anchor is made from.
        var instance: String? = nil
    }

    /// Appends `record` with its command, reason and error cut to `AdminText.storedLimit`
    /// bytes each (saying so): what a caller typed does not decide how much we write.
    func append(_ record: Record) throws(AdminError) {
        try chain.head.withLock { (state: inout AuditChainState.Known) throws(AdminError) in
            if !state.loaded {
                // The end only: the head is the last line (`DurableFile.readEnd`).
                let bytes = try DurableFile.readEnd(path, what: "audit log")
                // A last line without its newline was torn (power lost, or a SIGKILL mid-
                // write): the chain starts again (its head cannot be read), and the fragment
                // is ended first, or the new chain's first record would be glued to it and
                // unreadable to `verify`, `export` and the start's generation scan.
                if let last = bytes?.last, last != UInt8(ascii: "\n") { try DurableFile.appendLine(path, "") }
                state = .init(loaded: true, head: AuditChain.head(of: bytes.map { String(decoding: $0, as: UTF8.self) } ?? ""))
            }
            var record = record
            let prev: String, seq: UInt64
            if let head = state.head {
                (prev, seq) = (head.hash, head.seq + 1)
            } else {
                let instance = AuditChain.newInstance()
                record.instance = instance
                (prev, seq) = (AuditChain.anchor(instance: instance), 1)
            }
            let (line, hash) = AuditChain.line(body: try Self.body(record), prev: prev, seq: seq)
            try DurableFile.appendLine(path, line)
            // Only a record that is on disk moves the chain on.
            state.head = AuditChain.Head(hash: hash, seq: seq)
        }
    }

    /// The record as a JSON object, keys sorted, text fields cut.
    private static func body(_ record: Record) throws(AdminError) -> String {
        var record = record
        record.command = AdminText.stored(record.command)
        record.reason = record.reason.map(AdminText.stored)
        record.error = record.error.map(AdminText.stored)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try encoder.encode(record) } catch { throw AdminError("cannot encode audit record: \(error)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// The generations made by `accepted` or `recovered` records in the file, and the
    /// oldest of them; nil when the file is missing, unreadable or has none (a new or rotated
    /// log: nothing to compare with). An accepted record that made no generation (a guard
    /// ack, a plan command, `drain`, the upgrade's: its generation is the one before) names
    /// the generation in force, not one it audited: before, such a record written after a
    /// failed append hid that change from the recovery.
    static func recordedGenerations(path: String) -> (generations: Set<UInt64>, oldest: UInt64)? {
        guard let bytes = try? DurableFile.read(path, what: "audit log") else { return nil }
        var generations = Set<UInt64>()
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                  let outcome = object["outcome"] as? String, outcome == "accepted" || outcome == "recovered",
                  let generation = (object["generation"] as? NSNumber)?.uint64Value else { continue }
            if outcome == "accepted", (object["generationBefore"] as? NSNumber)?.uint64Value == generation { continue }
            generations.insert(generation)
        }
        guard let oldest = generations.min() else { return nil }
        return (generations, oldest)
    }

    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}
