import Foundation
import Glibc

/// Admin commands about the fleet itself (not its routing): `fleet forget INSTANCE`.
enum FleetCommands {
    static let usage = "fleet forget INSTANCE"

    static let specs: [AdminCommandSpec] = [
        .init(word: "fleet", usage: usage, summary: "remove a retired instance from the fleet's members (only once its record has expired)", changes: true) { service, command, caller throws(AdminError) in
            .answer(try forget(service, command, caller))
        },
    ]

    /// Removes the member from the store, then writes the audit record. Not a routing
    /// change: no generation. The audit comes after (a refusal changed nothing to audit);
    /// one that cannot be written is said in the answer.
    static func forget(_ service: AdminService, _ command: AdminCommandLine, _ caller: Caller) throws(AdminError) -> AdminAnswer {
        guard command.words.count == 3, command.words[1] == "forget" else { throw AdminError("usage: \(usage)") }
        guard let fleet = service.fleet else { throw AdminError("this instance is not in a fleet (no `fleet` line in the routes file)") }
        let line = try fleet.forget(member: command.words[2])
        do {
            try service.audit.append(.init(time: AuditLog.now(), outcome: "accepted", uid: caller.uid, pid: caller.pid,
                                           user: caller.userName, command: command.text, reason: command.reason,
                                           changes: [line], error: nil, generationBefore: service.table.generation,
                                           generation: service.table.generation))
        } catch {
            service.errorLog.error("audit log: \(error)")
            return .success(line + "\nwarning: the audit record was not written: \(error.message)")
        }
        return .success(line)
    }
}
