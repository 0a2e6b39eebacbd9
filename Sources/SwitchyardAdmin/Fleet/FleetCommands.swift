/// Admin commands about the fleet itself (not its routing): `fleet forget INSTANCE`.
enum FleetCommands {
    static let usage = "fleet forget INSTANCE"

    static let specs: [AdminCommandSpec] = [
        .init(word: "fleet", usage: usage, summary: "remove a retired instance from the fleet's members (only one with no record for 10 minutes)", changes: true) { service, command, caller throws(AdminError) in
            .answer(try forget(service, command, caller))
        },
    ]

    /// Removes the member from the store, then writes the audit record (a refusal changed
    /// nothing to audit). Not a routing change: no generation.
    static func forget(_ service: AdminService, _ command: AdminCommandLine, _ caller: Caller) throws(AdminError) -> AdminAnswer {
        guard command.words.count == 3, command.words[1] == "forget" else { throw AdminError("usage: \(usage)") }
        guard let fleet = service.fleet else { throw AdminError("this instance is not in a fleet (no `fleet` line in the routes file)") }
        return service.auditedAction(try fleet.forget(member: command.words[2]), command, caller)
    }
}
