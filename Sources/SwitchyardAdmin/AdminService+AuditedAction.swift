extension AdminService {
    /// The answer for an action that changes no routing (no generation) and is done by
    /// now: `line`, audited as accepted. It cannot be taken back, so an audit record that
    /// cannot be written is a warning in the answer, as for a routing change
    /// (`commit`), not a refusal that would say nothing happened.
    func auditedAction(_ line: String, _ command: AdminCommandLine, _ caller: Caller) -> AdminAnswer {
        do throws(AdminError) {
            try audit.append(.init(time: AuditLog.now(), outcome: "accepted", uid: caller.uid, pid: caller.pid,
                                   user: caller.userName, command: command.text, reason: command.reason,
                                   changes: [line], error: nil, generationBefore: table.generation,
                                   generation: table.generation))
        } catch {
            errorLog.error("audit log: \(error)")
            return .success(line + "\nwarning: the audit record was not written: \(error.message)",
                            json: ["changes": [line], "warning": "the audit record was not written: \(error.message)"])
        }
        return .success(line, json: ["changes": [line]])
    }
}
