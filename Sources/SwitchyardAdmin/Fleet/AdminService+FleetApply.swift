import Foundation
import Glibc
import SwitchyardRouting

extension AdminService {
    /// Applies a state document from the fleet's store (taking the commit lock): validated
    /// against this host's routes file, then published, written and audited exactly as a
    /// local change is. Throws (and changes nothing) when it cannot apply.
    func applyFleetDocument(_ document: FleetDocument) throws(AdminError) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return try applyFleetDocumentLocked(document)
    }

    /// The same, with the commit lock already held. False: not newer than the table in
    /// force, nothing to do.
    func applyFleetDocumentLocked(_ document: FleetDocument) throws(AdminError) -> Bool {
        let old = table
        guard document.generation > old.generation else { return false }
        // Handed over: the new process's watcher applies it; this one must not write the
        // state file or the audit log that are now the new process's. Frozen (handing over):
        // the new process has loaded the state file already and applies it once it took
        // over; if the hand-over is given up, this one catches up through the watcher's
        // whole read (the table behind the store for 3 s).
        guard !handedOver && !isFrozen else { return false }
        // A state naming a route or backend this host's file lacks would be silently trimmed
        // by a reconcile: in a fleet that is a table different from the others', so refuse.
        let (_, problems) = document.state.reconciled(with: config)
        if !problems.isEmpty {
            throw AdminError("generation \(document.generation) cannot be applied here: " + problems.joined(separator: "; "))
        }
        let newTable: RouteTable
        do {
            newTable = try RouteTable.build(config: config, state: document.state, generation: document.generation)
        } catch {
            throw AdminError("generation \(document.generation) cannot be applied here: \(error.description.replacingOccurrences(of: "\n", with: "; "))")
        }
        let command = "\(document.command) (fleet, via \(document.instance))"
        let entry = HistoryEntry(generation: document.generation, time: document.time, uid: document.uid, user: document.user,
                                 command: AdminText.stored(command), reason: document.reason.map(AdminText.stored),
                                 changes: document.changes, state: newTable.state)
        var newHistory = history
        newHistory.append(entry)
        if newHistory.count > StateFile.historyLimit { newHistory.removeFirst(newHistory.count - StateFile.historyLimit) }
        // The guard record (trips, loaded plans, plan progress) is this instance's own and
        // goes with every state file it writes, as a local commit's does.
        let oldFile = StateFile(generation: old.generation, state: old.state, history: history, guards: guardBook.record)
        try StateFile(generation: document.generation, state: newTable.state, history: newHistory, guards: guardBook.record)
            .save(path: statePath)
        do {
            try dataPlane.publish(newTable, reloadingCertificates: false)
        } catch {
            try? oldFile.save(path: statePath)
            throw AdminError("could not apply generation \(document.generation): \(error)")
        }
        history = newHistory
        _ = pausePlansOverridden(from: old.state, to: newTable.state, by: command)
        activity.changeCommitted(command: document.command.split(separator: " ").first.map(String.init) ?? "-")
        let lost = Self.usedBackends(old).subtracting(Self.usedBackends(newTable))
        for backend in lost { dataPlane.closeIdleConnections(to: backend) }
        do {
            try audit.append(.init(time: document.time, outcome: "accepted", uid: document.uid, pid: 0, user: document.user,
                                   command: command, reason: document.reason, changes: document.changes, error: nil,
                                   generationBefore: old.generation, generation: document.generation))
        } catch {
            errorLog.error("audit log: \(error)")
        }
        generationObserver?(document.generation)
        // A hold the fleet ended releases this instance's parked writes too, paced as a local
        // `release` does; on a thread of its own, so that neither the commit lock nor the
        // watcher waits for the pacing.
        if let release = HoldCommands.releaseFollowUp(from: old, to: newTable, command: command) {
            let log = errorLog
            Thread { [self] in
                for line in release(self, AdminProgress(sink: nil)) { log.info("fleet: \(line)") }
            }.start()
        }
        return true
    }
}
