extension AdminService {
    /// A change made by a guard or a plan, committed like a person's command: alone, through
    /// the local commit path; in fleet mode through the store (read and catch up, then one
    /// transaction), so every instance of the fleet reverts or ramps, not just the one whose
    /// evaluator decided. `makeChange` runs after the catch-up, so it computes from the
    /// store's copy; nil means there is nothing to change any more (another instance's guard
    /// already reverted, say). A detached instance refuses, as it refuses a person's change:
    /// it never invents a generation the fleet does not have. Called under the commit lock.
    func commitAsActor(_ command: AdminCommandLine, _ actor: Caller,
                       _ makeChange: () throws(AdminError) -> Change?) throws(AdminError) -> AdminAnswer? {
        if let fleet {
            try fleet.prepareChange(self, command)
            guard let change = try makeChange() else { return nil }
            return try fleet.commit(change, command, actor, service: self)
        }
        guard let change = try makeChange() else { return nil }
        return try commit(change, command, actor)
    }
}
