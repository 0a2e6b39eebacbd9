import Foundation
import Glibc
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardSystem

/// Carries out admin commands, one at a time. A change goes through one path, `commit`:
/// build and validate the new table, write the state file atomically, publish the table to
/// every worker (which answers once all acknowledged), append the audit record, answer.
/// If any step before the publish fails, nothing has changed.
public final class AdminService: @unchecked Sendable {
    public let routesPath: String
    public let statePath: String
    public let audit: AuditLog
    let policy: AccessPolicy
    let dataPlane: DataPlane
    /// The inventory and decision log a previous run saved (see `InventoryStore`).
    let inventoryStore: InventoryStore
    /// The mirror comparison and its file (see `CompareStore`; its own lock).
    let compareStore: CompareStore
    /// Pairs handed over by the guard tick, compared on their own thread (see `CompareInbox`).
    let compareInbox: CompareInbox
    /// The commit lock: one command at a time changes or reads the routing state.
    let lock = NSLock()
    /// Refusal records per uid per second; its own lock.
    private let refusals = RefusalLimiter()
    private(set) var config: RoutesConfig
    var history: [HistoryEntry]
    /// The state file could not be written at start (why): the restored state is served,
    /// changes are refused until a write succeeds, and `status` says so meanwhile.
    var stateFileUnwritable: String?
    /// The committed change's follow-up, handed from `commit` to `execute` (commit lock).
    var pendingFollowUp: (@Sendable (AdminService, AdminProgress) -> [String])?
    /// What the write hold remembers between `hold` and `release` (its own lock).
    let holdBook = HoldBook()
    /// Guards added at run time, their runs and latches, plans (see `AdminService+Guards`);
    /// under the commit lock.
    var guardBook = GuardBook()
    /// Counts state-file writes of the guard book (`recordGuardChange`), so a refused guard or
    /// plan command knows whether the file must be put back too.
    var guardRecordWrites = 0
    /// `notify` lines' deliveries (no targets without any); never waited for by a commit.
    public let eventNotifier: EventNotifier
    let errorLog: ErrorLog
    /// Changes and reloads counted for the metrics listener.
    public let activity = AdminActivity()
    /// Told the new generation after every committed change (systemd's `STATUS=`). Set
    /// before the admin socket starts serving; called with the commit lock held.
    public var generationObserver: (@Sendable (UInt64) -> Void)?
    /// `upgrade` and `takeover` (nil: `demo`, which cannot be upgraded in place).
    public var upgrade: Upgrade?
    /// Fleet mode (`fleet` in the routes file): changes go through etcd first. Set before the
    /// admin socket starts serving.
    public var fleet: FleetAgent?
    /// Why changes are refused right now (an upgrade is handing over), or nil. Such a
    /// refusal is not audited: the new process continues the audit chain from the file, and
    /// this one must not write behind it.
    private let frozen = Locked<String?>(nil)
    private let handedOverFlag = Locked(false)
    /// Serializes the records written outside a command's hold of the commit lock (a
    /// refusal, a release's report, the shutdown's summaries) with `handOver`, and guards
    /// `refusals`. Not the commit lock: a loop of refused commands (each record fsync'd)
    /// held up people's changes and the guards' reverts behind it.
    private let auditLock = NSLock()

    /// Restores the state file (if any) against `config`, reconciling names that vanished.
    /// Returns the table to start the data plane with, and warnings for the error log.
    /// `takingOver`: an upgrade's new process serves the old one's generation, not the next.
    public static func startingTable(config: RoutesConfig, statePath: String,
                                     takingOver: Bool = false) throws(AdminError) -> (RouteTable, [String], StateFile?) {
        let saved = try StateFile.load(path: statePath)
        let state = saved?.state ?? RuntimeState()
        let (reconciled, warnings) = state.reconciled(with: config)
        let generation = (saved?.generation ?? 0) + (takingOver && saved != nil ? 0 : 1)
        do {
            return (try RouteTable.build(config: config, state: reconciled, generation: generation), warnings, saved)
        } catch {
            throw AdminError("state file \(statePath) does not fit the routes file: \(error.description)")
        }
    }

    public init(routesPath: String, config: RoutesConfig, statePath: String, auditPath: String,
                policy: AccessPolicy, dataPlane: DataPlane, restored: StateFile?, startWarnings: [String],
                errorLog: ErrorLog, takingOver: Bool = false) throws(AdminError) {
        self.routesPath = routesPath
        self.statePath = statePath
        self.config = config
        audit = AuditLog(path: auditPath)
        self.policy = policy
        self.dataPlane = dataPlane
        self.errorLog = errorLog
        inventoryStore = InventoryStore(statePath: statePath, errorLog: errorLog)
        compareStore = CompareStore(statePath: statePath, errorLog: errorLog)
        compareInbox = Self.compareInbox(store: compareStore, dataPlane: dataPlane)
        history = restored?.history ?? []
        guardBook = GuardBook(record: restored?.guards)
        // Always there, without targets when the file names none: a reload that adds
        // `notify` lines starts them (before, a service started without any kept none).
        eventNotifier = EventNotifier(targets: config.notify, errorLog: errorLog)
        // An upgrade's new process serves the same generation with the same history: the
        // old process records the upgrade itself, and the state file stays as it is.
        if takingOver && restored != nil { return }
        if let restored { recoverUnaudited(restored) }
        let table = dataPlane.table
        let me = Caller(uid: geteuid(), gid: getegid(), pid: getpid())
        let entry = HistoryEntry(generation: table.generation, time: AuditLog.now(), uid: me.uid, user: me.userName,
                                 command: restored == nil ? "start" : "start (state restored)", reason: nil,
                                 changes: startWarnings, state: table.state)
        appendHistory(entry)
        // The start is a generation too: written down so that `revert to N` finds it.
        do {
            try StateFile(generation: table.generation, state: table.state, history: history, guards: guardBook.record).save(path: statePath)
        } catch where restored != nil {
            stateFileUnwritable = error.message
            // A restart whose state was read back serves it even when the bookkeeping write
            // fails (a full /var): refusing to start took the front door down at the next
            // crash or reboot, for a file it had just read. Every change writes the file
            // first, so changes are refused, each with the reason, until it can be written.
            errorLog.error("state file \(statePath): the start could not be written (\(error.message)); serving the state restored from it; changes are refused until the file can be written")
        }
        for warning in startWarnings {
            try? audit.append(.init(time: entry.time, outcome: "warning", uid: me.uid, pid: me.pid, user: me.userName,
                                    command: "start", reason: nil, changes: [warning], error: nil,
                                    generationBefore: nil, generation: table.generation))
        }
    }

    /// A change is written to the state file before its audit record: a process killed in
    /// between (or whose audit append failed) restarts in a state the audit log never named.
    /// The history in the state file still has those generations (who, what, why): each one
    /// the audit log does not name, from its oldest named generation on, is written as a
    /// `recovered` record, so the trail names every change. A gap left by a failed append
    /// that later records passed is found too. Start generations are not changes.
    private func recoverUnaudited(_ restored: StateFile) {
        guard let (audited, oldest) = AuditLog.recordedGenerations(path: audit.path) else { return }
        for entry in restored.history where entry.generation > oldest && !audited.contains(entry.generation)
            && entry.generation <= restored.generation && !entry.command.hasPrefix("start") {
            do {
                try audit.append(.init(time: entry.time, outcome: "recovered", uid: entry.uid, pid: 0, user: entry.user,
                                       command: entry.command, reason: entry.reason, changes: entry.changes,
                                       error: "in force since before the last stop, but its audit record was not written; recovered from the state file's history",
                                       generationBefore: nil, generation: entry.generation))
                errorLog.warning("audit log: generation \(entry.generation) (\(entry.command)) had no record; recovered from the state file")
            } catch {
                errorLog.error("audit log: recovering generation \(entry.generation): \(error)")
            }
        }
    }

    private func appendHistory(_ entry: HistoryEntry) {
        history.append(entry)
        if history.count > StateFile.historyLimit { history.removeFirst(history.count - StateFile.historyLimit) }
    }

    var table: RouteTable { dataPlane.table }

    /// The history, read under the commit lock (for the metrics listener's thread).
    public var historySnapshot: [HistoryEntry] { lock.withLock { history } }

    // MARK: executing

    /// Runs one command line for `caller`. A refusal of a change is audited after the
    /// commit lock is released: writing and fsyncing it must not hold up accepted changes.
    /// A command that waits after its commit (`hold`, `release`) reports how far it is on
    /// `progress` (human answers only).
    /// `detachFollowUp`: the follow-up runs on a thread of its own and the answer returns at
    /// once (SIGHUP: a reload that ends a hold paces its release for minutes, and the
    /// signal thread must go on taking SIGTERM and the rest meanwhile).
    public func execute(_ line: String, caller: Caller, progress: AdminProgress = .silent,
                        detachFollowUp: Bool = false) -> (AdminAnswer, json: Bool) {
        if let outside = SimulateCommand.runOutsideTheLock(self, line) { return outside }
        let (answer, json, refusal, followUp) = executeLocked(line, caller: caller)
        if let refusal { recordRefusal(refusal.command, caller, refusal.error, generationBefore: refusal.generation) }
        if let followUp {
            guard detachFollowUp else { return (answer.followedBy(followUp(self, json ? .silent : progress)), json) }
            let log = errorLog
            Thread { [self] in for line in followUp(self, .silent) { log.info(line) } }.start()
        }
        return (answer, json)
    }

    /// A refused change, to be audited once the lock is released.
    private struct Refusal {
        var command: AdminCommandLine
        var error: AdminError
        var generation: UInt64
    }

    private func executeLocked(_ line: String, caller: Caller) -> (AdminAnswer, Bool, Refusal?, (@Sendable (AdminService, AdminProgress) -> [String])?) {
        lock.lock()
        defer { pendingFollowUp = nil ; lock.unlock() }
        let (answer, json, refusal) = executeLockedCommand(line, caller: caller)
        return (answer, json, refusal, answer.ok ? pendingFollowUp : nil)
    }

    private func executeLockedCommand(_ line: String, caller: Caller) -> (AdminAnswer, Bool, Refusal?) {
        let command: AdminCommandLine
        do {
            command = try AdminCommandLine(parsing: line)
        } catch {
            return (.failure(error), line.contains("json"), nil)
        }
        guard let name = command.words.first else {
            return (.failure(AdminError("empty command; try: help")), command.json, nil)
        }
        guard let spec = AdminCommands.find(name, command.words) else {
            return (.failure(AdminError("unknown command \"\(AdminText.stored(name))\"; try: help")), command.json, nil)
        }
        // `flip --help` at 2 a.m.: the usage, nothing run, nothing audited.
        if command.help { return (.success(AdminCommands.usage(of: spec)), command.json, nil) }
        func refused(_ error: AdminError) -> (AdminAnswer, Bool, Refusal?) {
            (.failure(error), command.json, Refusal(command: command, error: error, generation: table.generation))
        }
        if spec.changes, let reason = frozen.withLock({ $0 }) {
            return (.failure(AdminError(reason)), command.json, nil)
        }
        if spec.changes {
            guard policy.mayChange(caller) else {
                return refused(AdminError("\(caller.userName) (uid \(caller.uid)) may not change routing: allowed are root, the proxy's own user and those the routes file's admin line allows"))
            }
            if let missing = missingReason(command) { return refused(missing) }
        }
        do throws(AdminError) {
            try command.checkOptions(spec.word, allowed: spec.changes ? spec.options.union(["--reason"]) : spec.options)
        } catch {
            return spec.changes ? refused(error) : (.failure(error), command.json, nil)
        }
        do {
            // Fleet mode: the change is computed from the store's copy (read and caught up
            // with here) and committed to etcd first. `reload` and `drain` stay local.
            let viaFleet = spec.changes && fleet != nil && !FleetAgent.localCommands.contains(name)
            defer { if viaFleet { fleet?.dropUncommittedHistory(self) } }
            if viaFleet, let fleet { try fleet.prepareChange(self, command) }
            let outcome = try spec.run(self, command, caller)
            switch outcome {
            case .answer(let answer):
                return (answer, command.json, nil)
            case .change(let change):
                if viaFleet, let fleet { return (try fleet.commit(change, command, caller, service: self), command.json, nil) }
                // A reload in fleet mode is this host's own: it keeps the fleet's generation.
                return (try commit(change, command, caller, generation: fleet == nil ? nil : table.generation), command.json, nil)
            }
        } catch {
            return spec.changes ? refused(error) : (.failure(error), command.json, nil)
        }
    }

    /// Runs `body`, which appends to the audit log, under the audit lock `handOver` takes,
    /// unless this process has handed the service over: the log's chain is the new process's
    /// then, and a record from here would fork it (two records after the same one; `audit
    /// verify` fails). For records written outside a command's own hold of the lock (a
    /// refusal, a release's report, the shutdown's summaries). False after a hand-over.
    @discardableResult
    private func whileTheAuditLogIsOurs(_ body: () -> Void) -> Bool {
        auditLock.lock()
        defer { auditLock.unlock() }
        guard !handedOverFlag.withLock({ $0 }) else { return false }
        body()
        return true
    }

    /// Appends `record`; a failure goes to the error log (the change it records stands).
    private func appendOrLog(_ record: AuditLog.Record) {
        do {
            try audit.append(record)
        } catch {
            errorLog.error("audit log: \(error)")
        }
    }

    /// Writes a refusal record, within `refusals`' rate per uid; summaries of what the
    /// limit held back go first.
    private func recordRefusal(_ command: AdminCommandLine, _ caller: Caller, _ error: AdminError, generationBefore: UInt64) {
        whileTheAuditLogIsOurs {
            let time = AuditLog.now()
            let (record, summaries) = refusals.admit(uid: caller.uid, nowMilliseconds: Clock.monotonicMilliseconds(), time: time)
            writeSummaries(summaries)
            guard record else { return }
            appendOrLog(.init(time: time, outcome: "refused", uid: caller.uid, pid: caller.pid,
                              user: caller.userName, command: command.text, reason: command.reason, changes: nil,
                              error: error.message, generationBefore: generationBefore, generation: nil))
        }
    }

    private func writeSummaries(_ summaries: [RefusalLimiter.Summary]) {
        for summary in summaries {
            let message = "\(summary.count) more refusals from uid \(summary.uid) between \(summary.since) and \(summary.until) were not recorded (at most \(refusals.perSecond) per second per uid)"
            appendOrLog(.init(time: AuditLog.now(), outcome: "refusals-not-recorded", uid: summary.uid, pid: 0,
                              user: Caller.name(of: summary.uid), command: "", reason: nil, changes: nil,
                              error: message, generationBefore: nil, generation: nil, count: summary.count))
        }
    }

    /// Writes what the refusal limit still holds back (at shutdown).
    public func flushRefusalSummaries() {
        whileTheAuditLogIsOurs { writeSummaries(refusals.flush()) }
    }

    // MARK: upgrade

    /// Changes are refused with `reason` (an upgrade is handing over) until `thaw`.
    /// Taken under the commit lock: a change already past the freeze check (a person's, a
    /// guard's, a plan step's) is written before the new process reads the state file.
    func freeze(_ reason: String) { lock.withLock { frozen.withLock { if $0 != Self.shutdownFreeze { $0 = reason } } } }

    /// SIGTERM: a commit under way finishes (this waits for the commit lock), later ones are
    /// refused — a fleet generation arriving while the data plane drains included, which
    /// would write the state file and publish to workers that are stopping.
    public func freezeForShutdown() { freeze(Self.shutdownFreeze) }
    static let shutdownFreeze = "the proxy is shutting down"

    /// Changes are refused (an upgrade is handing over, or has).
    var isFrozen: Bool { frozen.withLock { $0 != nil } }

    /// This process handed the service over: the state file and audit log are another's.
    var handedOver: Bool { handedOverFlag.withLock { $0 } }
    /// Ends an upgrade's freeze. A shutdown's stays: a SIGTERM during an upgrade that then
    /// failed used to open changes again while the workers drained and stopped.
    func thaw() { frozen.withLock { if $0 != Self.shutdownFreeze { $0 = nil } } }

    /// This process is no longer the service: changes stay refused, nothing more is audited.
    func handOver(_ reason: String) {
        lock.withLock {
            auditLock.withLock { handedOverFlag.withLock { $0 = true } }
            frozen.withLock { $0 = reason }
        }
    }

    /// A record written after its command was answered, outside the commit lock (a
    /// release's report, once the released writes are done): an upgrade may have handed the
    /// service over meanwhile (`whileTheAuditLogIsOurs`); then the record goes to the error
    /// log instead.
    func appendOutsideCommand(_ record: AuditLog.Record) {
        if !whileTheAuditLogIsOurs({ appendOrLog(record) }) {
            errorLog.warning("not in the audit log (handed over to a new process): \(record.outcome): \((record.changes ?? []).joined(separator: "; "))")
        }
    }

    /// The audit record of an upgrade, written before the new process may write its own.
    /// `caller`: who asked (nil: a process started by hand took over).
    func recordUpgrade(to pid: Int32, by caller: Caller?, reason: String?, binary: String?) {
        let who = caller ?? Caller(uid: geteuid(), gid: getegid(), pid: pid)
        let command = binary.map { "upgrade --binary \(AdminCommandLine.quotedIfNeeded($0))" } ?? "upgrade"
        var changes = ["pid \(getpid()) → \(pid)"]
        // The new process read the routes file as it is now: an edit not reloaded takes
        // effect with the upgrade (the way to change listeners), and the trail says so.
        if let current = try? RoutesConfig.load(path: routesPath), current != config {
            changes.append("\(routesPath) changed since it was last loaded: the new process serves it as it is now")
        }
        appendOrLog(.init(time: AuditLog.now(), outcome: "accepted", uid: who.uid, pid: who.pid, user: who.userName,
                          command: command, reason: reason, changes: changes, error: nil,
                          generationBefore: table.generation, generation: table.generation))
    }

    /// `upgrade [--binary PATH] [--reason TEXT]`: needs the change permission; waits until
    /// the new process took over or failed. Not under the commit lock (it takes seconds).
    /// A refusal is audited like any refused change.
    func runUpgrade(_ command: AdminCommandLine, caller: Caller) -> AdminAnswer {
        guard command.words.count == 1 else { return .failure(AdminError("usage: upgrade [--binary PATH]")) }
        do throws(AdminError) {
            try command.checkOptions("upgrade", allowed: ["--binary", "--reason"])
        } catch {
            return .failure(error)
        }
        // Under the commit lock: it reads the routes file's admin line and the table, which
        // a reload replaces.
        if let refusal = lock.withLock({ upgradeRefusal(command, caller: caller) }) {
            recordRefusal(command, caller, refusal, generationBefore: table.generation)
            return .failure(refusal)
        }
        guard let upgrade else { return .failure(AdminError("upgrade: only a `switchyard serve` process can be upgraded in place")) }
        return upgrade.run(binary: command.binary, service: self, caller: caller, reason: command.reason)
    }

    /// SIGUSR2: an upgrade to this same executable path, on behalf of the process itself.
    public func upgradeFromSignal() -> AdminAnswer {
        guard let upgrade else { return .failure(AdminError("upgrade: not available here")) }
        if let held = lock.withLock({ holdRefusal() }) { return .failure(held) }
        return upgrade.run(binary: nil, service: self, caller: Caller(uid: geteuid(), gid: getegid(), pid: getpid()), reason: "SIGUSR2")
    }

    /// Why `caller` may not upgrade now, or nil.
    private func upgradeRefusal(_ command: AdminCommandLine, caller: Caller) -> AdminError? {
        guard policy.mayChange(caller) else {
            return AdminError("\(caller.userName) (uid \(caller.uid)) may not upgrade the proxy: allowed are root, the proxy's own user and those the routes file's admin line allows")
        }
        // The binary runs as the proxy, with its state, audit log and keys: a file of any
        // ops member's choosing would be theirs to run as the service.
        if command.binary != nil && caller.uid != 0 && caller.uid != policy.serviceUID {
            return AdminError("upgrade --binary is for root and the proxy's own user (uid \(policy.serviceUID)): the binary runs as the proxy; upgrade without --binary runs the installed one")
        }
        if let missing = missingReason(command) { return missing }
        return holdRefusal()
    }

    /// The routes file's `admin … require-reason` and a change given none, or nil.
    private func missingReason(_ command: AdminCommandLine) -> AdminError? {
        guard config.admin?.requireReason == true, (command.reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return AdminError("a reason is required for every change here: add --reason \"CHG-1234\" (routes file: admin … require-reason)")
    }

    /// A write hold in force, or writes still parked: the new process cannot take parked
    /// requests over, and the old one would cut them at the end of its grace. Under the
    /// commit lock, or once frozen (nothing commits then).
    func holdRefusal() -> AdminError? {
        let held = table.state.routes.filter { $0.value.hold != nil }.keys.sorted()
        let parked = dataPlane.holdSnapshot(routes: []).parked
        guard !held.isEmpty || parked > 0 else { return nil }
        let what = held.isEmpty ? "\(parked) write(s) still parked" : "route \(held.joined(separator: ", ")) held, \(parked) write(s) parked"
        return AdminError("upgrade refused: \(what): a new process cannot take parked requests over; release first (switchyard release ROUTE), then upgrade; still serving (pid \(getpid()), generation \(table.generation))")
    }

    /// A change a command computed: the new runtime state (and config, for reload), and what
    /// to do with the traffic that moved.
    struct Change {
        var state: RuntimeState
        var config: RoutesConfig? = nil
        var drainMilliseconds: UInt64? = nil
        var extraLines: [String] = []
        /// Runs after the commit, outside the commit lock (a hold waiting for writes in
        /// flight, a release pacing its queue); its lines end the answer.
        var followUp: (@Sendable (AdminService, AdminProgress) -> [String])? = nil
    }

    /// `generation`: the one the fleet's store gave this change (nil: the next one).
    /// `checkedAgainstStore`: `FleetAgent.commit` checked the change against the store's
    /// latches before its transaction (not refused here by a latch read since).
    func commit(_ change: Change, _ command: AdminCommandLine, _ caller: Caller,
                generation fleetGeneration: UInt64? = nil, checkedAgainstStore: Bool = false) throws(AdminError) -> AdminAnswer {
        do {
            return try commitChange(change, command, caller, generation: fleetGeneration, checkedAgainstStore: checkedAgainstStore)
        } catch {
            // A reload refused here (a state that does not fit the new file, a guarded raise,
            // a certificate that cannot be read) is a failed reload on the page and in
            // /metrics, as one refused while reading the file is.
            if change.config != nil { activity.reloadFinished(ok: false, message: error.message) }
            throw error
        }
    }

    private func commitChange(_ change: Change, _ command: AdminCommandLine, _ caller: Caller,
                              generation fleetGeneration: UInt64?, checkedAgainstStore: Bool) throws(AdminError) -> AdminAnswer {
        let old = table
        let newConfig = change.config ?? config
        if change.config == nil && change.state == old.state {
            return .success("nothing changed (generation \(old.generation))", json: ["generation": old.generation, "changes": []])
        }
        // A fleet change was checked against the store's latches before its transaction
        // (`FleetAgent.commit`): committed there, it is not refused here by a latch read since.
        try refuseGuardedRaise(old: old, newState: change.state, config: newConfig, fleetLatches: !checkedAgainstStore)
        let generation = fleetGeneration ?? old.generation + 1
        let newTable: RouteTable
        do {
            newTable = try RouteTable.build(config: newConfig, state: change.state, generation: generation)
        } catch {
            throw AdminError(error.description.replacingOccurrences(of: "\n", with: "; "))
        }
        var changes = newTable.describeChanges(from: old)
        // Compared by effect, not by spelling: an override equal to the file is no change.
        if change.config == nil && changes.isEmpty {
            return .success("nothing changed (generation \(old.generation))", json: ["generation": old.generation, "changes": []])
        }
        changes += change.extraLines
        let entry = HistoryEntry(generation: generation, time: AuditLog.now(), uid: caller.uid, user: caller.userName,
                                 command: AdminText.stored(command.text), reason: command.reason.map(AdminText.stored),
                                 changes: changes, state: newTable.state)
        var newHistory = history
        newHistory.append(entry)
        if newHistory.count > StateFile.historyLimit { newHistory.removeFirst(newHistory.count - StateFile.historyLimit) }
        // 1. Durable first: after a crash from here on, the restart comes back in this state.
        let oldFile = StateFile(generation: old.generation, state: old.state, history: history, guards: guardBook.record)
        try StateFile(generation: generation, state: newTable.state, history: newHistory, guards: guardBook.record).save(path: statePath)
        stateFileUnwritable = nil
        // 2. Every worker installs it before we go on.
        do {
            try dataPlane.publish(newTable, reloadingCertificates: change.config != nil)
        } catch {
            do {
                try oldFile.save(path: statePath)
            } catch let restore {
                // Said, not swallowed: a restart would serve what the answer calls unchanged.
                errorLog.error("state file \(statePath): generation \(generation) was not applied and the file could not be put back to generation \(old.generation) (\(restore.message)): a restart would serve generation \(generation)")
                throw AdminError("could not apply: \(error); nothing changed here, but the state file still holds generation \(generation) and could not be put back (\(restore.message)): a restart would serve it")
            }
            throw AdminError("could not apply: \(error); nothing changed")
        }
        history = newHistory
        config = newConfig
        let pausedPlans = pausePlansOverridden(from: old.state, to: newTable.state, by: command.text)
        activity.changeCommitted(command: command.words.first ?? "-")
        if change.config != nil { activity.reloadFinished(ok: true, message: "generation \(generation)") }
        // 3. Traffic that moved away: idle connections to sides that lost everything close;
        //    tunnels close only when a drain deadline was given.
        let lost = Self.usedBackends(old).subtracting(Self.usedBackends(newTable))
        for backend in lost { dataPlane.closeIdleConnections(to: backend) }
        // Per route: tunnels to a side that route no longer sends to (another route may
        // still use that backend).
        let moved = Self.movedAway(old, newTable)
        if let drain = change.drainMilliseconds, !moved.isEmpty {
            dataPlane.drainTunnels(to: moved, afterMilliseconds: drain)
        }
        // 4. The audit record, fsync'd, before the answer.
        var auditError: String?
        do {
            try audit.append(.init(time: entry.time, outcome: "accepted", uid: caller.uid, pid: caller.pid, user: caller.userName,
                                   command: command.text, reason: command.reason, changes: changes, error: nil,
                                   generationBefore: old.generation, generation: generation))
        } catch {
            auditError = error.message
            errorLog.error("audit log: \(error)")
        }
        var lines = changes.isEmpty ? ["generation \(generation): no routing change"] : changes.map { "generation \(generation): \($0)" }
        if let drain = change.drainMilliseconds, !moved.isEmpty {
            let names = moved.sorted().map { $0.replacingOccurrences(of: "/", with: " → ") }
            lines.append("tunnels (route → backend) \(names.joined(separator: ", ")) close in \(String(format: "%.1f", Double(drain) / 1000))s")
        }
        lines += pausedPlans
        if let auditError { lines.append("warning: the audit record was not written: \(auditError)") }
        if change.config != nil { eventNotifier.setTargets(newConfig.notify) }
        notify(command, caller, changes: changes, generationBefore: old.generation, generation: generation)
        generationObserver?(generation)
        // A change that ended a hold any other way (revert, reload) releases its queue too.
        pendingFollowUp = change.followUp ?? HoldCommands.releaseFollowUp(from: old, to: newTable, command: command.text)
        return .success(lines.joined(separator: "\n"), json: ["generation": generation, "changes": changes])
    }

    /// "route/backend" pairs a route sent to under `old` and no longer under `new`.
    static func movedAway(_ old: RouteTable, _ new: RouteTable) -> Set<String> {
        var moved = Set<String>()
        for route in old.routes {
            guard let index = new.routeIndex(named: route.name) else { continue }
            let before = route.backendsInUse, after = new.routes[index].backendsInUse
            for backend in before.subtracting(after) { moved.insert("\(route.name)/\(backend)") }
        }
        return moved
    }

    /// Backends that can receive traffic under a table.
    static func usedBackends(_ table: RouteTable) -> Set<String> {
        table.routes.reduce(into: Set<String>()) { $0.formUnion($1.backendsInUse) }
    }

    // MARK: reload (also SIGHUP)

    /// Re-reads the routes file. An invalid file changes nothing and every error is reported.
    func reloadChange() throws(AdminError) -> Change {
        // Every refusal is a failed reload on the cutover page and in /metrics too.
        func refused(_ message: String) -> AdminError {
            activity.reloadFinished(ok: false, message: message)
            return AdminError("reload refused, nothing changed:\n" + message)
        }
        let newConfig: RoutesConfig
        do {
            newConfig = try RoutesConfig.load(path: routesPath)
        } catch {
            throw refused(error.description)
        }
        if let refusal = newConfig.listenerRefusal(from: config, file: routesPath) { throw refused(refusal) }
        // A guard in the file with the name of one added at run time: both would be checked
        // against one run and one latch, and /metrics would show its series twice.
        if let twin = newConfig.guards.first(where: { g in guardBook.record.runtimeGuards.contains { $0.route == g.route && $0.name == g.name } }) {
            throw refused("\(routesPath): route \(twin.route) has a guard \(twin.name) added at run time too: remove that one first (guard \(twin.route) remove \(twin.name)), then reload")
        }
        // The admin line waits for the next start, but its names must still resolve then: a
        // typo in `allow group` that reloads fine would stop the next start instead.
        do throws(AdminError) {
            _ = try AccessPolicy(config: newConfig.admin)
        } catch {
            throw refused("\(routesPath): \(error.message)")
        }
        let (state, warnings) = table.state.reconciled(with: newConfig)
        // The file's sides changed, but a run-time weight or flip stays in force over them:
        // said, or ops believe the new split serves.
        let overridden = newConfig.routes.compactMap { route -> String? in
            guard let old = config.routes.first(where: { $0.name == route.name }),
                  old.active != route.active || old.standby != route.standby || old.split != route.split,
                  let runtime = state.routes[route.name], runtime.active != nil || runtime.split != nil else { return nil }
            return "route \(route.name): the file's new sides are not in force: the run-time \(runtime.split != nil ? "weight" : "flip") kept in the state file overrides them (status shows what serves; change it with weight or flip)"
        }
        return Change(state: state, config: newConfig, extraLines: ["reloaded \(routesPath)"] + warnings.map { "warning: \($0)" }
                      + overridden.map { "warning: \($0)" }
                      + newConfig.startOnlyChanges(from: config).map { "warning: \($0)" }
                      + Proxy.keyFileWarnings(newConfig, file: routesPath))
    }

    /// SIGHUP: a reload on behalf of the process itself.
    public func reloadFromSignal() -> AdminAnswer {
        execute("reload --reason SIGHUP", caller: Caller(uid: geteuid(), gid: getegid(), pid: getpid()), detachFollowUp: true).0
    }
}
