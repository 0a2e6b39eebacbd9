import Foundation
import SwitchyardRouting

/// The fleet's runtime state, the one `state` key: everything a change touches, so a change
/// is one write and a resync is one read. The same document is kept as `history/<generation>`.
struct FleetDocument: Codable, Equatable {
    var generation: UInt64
    var state: RuntimeState
    /// Who made it, through which instance, and why (also in `audit/<generation>`).
    var instance: String
    var user: String
    var uid: UInt32
    var command: String
    var reason: String?
    var changes: [String]
    var time: String
    /// Wall clock of the commit, for the apply skew.
    var committedAtMilliseconds: UInt64

    /// Throws with a reason a person can act on when the bytes are not a state document.
    static func decode(_ data: Data) throws(AdminError) -> FleetDocument {
        var document: FleetDocument
        do {
            document = try JSONDecoder().decode(FleetDocument.self, from: data)
        } catch {
            throw AdminError("the fleet's state document does not parse: \(Self.reason(error))")
        }
        if let problem = StateFile.rangeProblem(generation: document.generation, state: document.state) {
            throw AdminError("the fleet's state document is out of range: \(problem)")
        }
        // The state's own texts (route and backend names, cohort names and values, a hold's
        // reason) go into the table and `status` as they are: a command line refuses control,
        // bidi and format characters in them, so a document that has one was not made by a
        // command (an escape sequence in a cohort value reached every operator's terminal).
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let state = object["state"], Self.holdsRefusedText(state) {
            throw AdminError("the fleet's state document holds a control, bidi or format character in a name or value of its state")
        }
        // Anyone who can write to etcd wrote these: they reach the error log, `history` and
        // the audit log, so characters a command line would refuse are replaced.
        document.instance = AdminText.screened(document.instance)
        document.user = AdminText.screened(document.user)
        document.command = AdminText.screened(document.command)
        document.reason = document.reason.map(AdminText.screened)
        document.changes = document.changes.map(AdminText.screened)
        document.time = AdminText.screened(document.time)
        return document
    }

    /// Whether any key or string below `value` holds a character `AdminText.isRefused` names.
    private static func holdsRefusedText(_ value: Any) -> Bool {
        switch value {
        case let text as String:
            return text.unicodeScalars.contains(where: AdminText.isRefused)
        case let object as [String: Any]:
            return object.contains { $0.key.unicodeScalars.contains(where: AdminText.isRefused) || holdsRefusedText($0.value) }
        case let array as [Any]:
            return array.contains(where: holdsRefusedText)
        default:
            return false
        }
    }

    func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { preconditionFailure("a FleetDocument always encodes") }
        return data
    }

    private static func reason(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case DecodingError.keyNotFound(let key, _):
            return "missing \(key.stringValue)"
        case DecodingError.dataCorrupted(let context):
            return context.debugDescription
        default:
            return "\(error)"
        }
    }
}

/// One change as the fleet's audit trail keeps it (`audit/<generation>`).
struct FleetAuditRecord: Codable {
    var generation: UInt64
    var generationBefore: UInt64
    var instance: String
    var user: String
    var uid: UInt32
    var command: String
    var reason: String?
    var changes: [String]
    var time: String
}

/// What an instance says about itself (`instances/<name>`, under its lease: it vanishes
/// when the instance stops renewing).
struct FleetInstanceRecord: Codable, Equatable {
    var name: String
    var generation: UInt64
    var revision: Int64
    var appliedAtMilliseconds: UInt64
    var seenAtMilliseconds: UInt64
    /// `synced`, `detached` or `rejected`.
    var status: String
    var error: String?
    /// Writes in flight upstream on this instance's held routes, measured after it applied
    /// `generation` (the heartbeat's record only; nil: no route held, or not measured). A
    /// `hold` typed on another instance answers quiet only once every member says 0.
    var heldWritesInFlight: Int?

    /// The record with its texts screened (`AdminText.screened`): it comes from etcd, where
    /// anyone with access can write, and `status` shows it on an operator's terminal.
    var screened: FleetInstanceRecord {
        var record = self
        record.name = AdminText.screened(name)
        record.status = AdminText.screened(status)
        record.error = error.map(AdminText.screened)
        return record
    }
}

/// Where the fleet's keys live: `/switchyard/<fleet>/…`.
struct FleetKeys {
    let root: String
    init(fleet: String) { root = "/switchyard/\(fleet)/" }
    var state: String { root + "state" }
    /// The guards' trips not yet acknowledged, fleet-wide (`FleetLatch`).
    var latches: String { root + "latches" }
    /// Zero-padded so that the keys sort by generation.
    func audit(_ generation: UInt64) -> String { root + "audit/" + Self.padded(generation) }
    func history(_ generation: UInt64) -> String { root + "history/" + Self.padded(generation) }
    var instances: String { root + "instances/" }
    func instance(_ name: String) -> String { instances + name }
    /// Every instance that ever joined (no lease): an instance here and not under
    /// `instances/` is gone.
    var members: String { root + "members/" }
    func member(_ name: String) -> String { members + name }
    var auditPrefix: String { root + "audit/" }

    static func padded(_ generation: UInt64) -> String {
        let text = String(generation)
        return String(repeating: "0", count: max(0, 20 - text.count)) + text
    }

    /// Fleet states kept for `revert to N`.
    static let historyKept: UInt64 = 100
}
