import Foundation
import Glibc
import SwitchyardProxy
import SwitchyardRouting

/// The guards on the admin side: the check every second, what a trip does, and the rule
/// that a latched guard refuses raises of its route's new side. Everything here runs under
/// the commit lock, so a trip's revert is one more commit in line with people's.
extension AdminService {
    /// The routes file's guards, then those added at run time, for routes that exist. A
    /// runtime guard named as one of the file's (a state file from before the file gained
    /// it: a reload would have been refused) is left out: the file's is the one in force.
    var allGuards: [GuardConfig] {
        let runtime = guardBook.record.runtimeGuards.filter { g in !config.guards.contains { $0.route == g.route && $0.name == g.name } }
        return (config.guards + runtime).filter { table.routeIndex(named: $0.route) != nil }
    }

    /// The cells the guards read (both sides of each) and the longest window among them.
    func guardCells() -> (Set<MetricsKey>, Int) {
        lock.withLock {
            let guards = allGuards
            var keys = Set<MetricsKey>()
            for g in guards {
                keys.insert(MetricsKey(route: g.route, backend: g.newSide))
                keys.insert(MetricsKey(route: g.route, backend: g.oldSide))
            }
            return (keys, guards.map(\.windowSeconds).max() ?? 0)
        }
    }

    /// One check of every guard over the windows (called by `GuardEvaluator` each second).
    func guardTick(_ windows: GuardWindows) {
        lock.lock()
        // While an upgrade hands over (and after), trips and plan steps wait: a commit here
        // would rewrite the state file the new process has loaded, and audit a generation it
        // will number again. A given-up upgrade thaws, and the next tick goes on.
        if isFrozen {
            lock.unlock()
            return
        }
        tickLocked(windows)
        // A commit made here (a trip, a plan step) may leave a follow-up, as `execute` runs
        // for a person's command: run it the same way, after the commit lock.
        let followUp = pendingFollowUp
        pendingFollowUp = nil
        lock.unlock()
        if let followUp { for line in followUp(self, .silent) { errorLog.info(line) } }
    }

    private func tickLocked(_ windows: GuardWindows) {
        for guardConfig in allGuards {
            let from = guardBook.countFrom[GuardBook.key(guardConfig)]
            let new = windows.window(route: guardConfig.route, backend: guardConfig.newSide, seconds: guardConfig.windowSeconds, notBefore: from)
            var old = windows.window(route: guardConfig.route, backend: guardConfig.oldSide, seconds: guardConfig.windowSeconds, notBefore: from)
            let key = GuardBook.key(guardConfig)
            // Remembered only from a window with enough requests, and used whenever the old
            // side's window falls below that: after a flip the window shrinks to its last
            // stragglers (a few slow requests, often none failed), a sample that would make
            // the old side look perfect or terrible.
            var remembered = false
            let baselineKey = GuardBook.baselineKey(guardConfig)
            if old.requests >= UInt64(guardConfig.minRequests) {
                guardBook.remember(old, for: baselineKey)
            } else if let last = guardBook.oldBaseline[baselineKey] {
                old = last
                // A remembered window's run of failures is history: it must not spare the
                // new side a fast trip for good (a flip away during the old side's incident).
                old.streak = 0
                old.streakRuns = 0
                remembered = true
            }
            var verdict = guardConfig.check(new: new, old: old)
            if remembered { verdict = verdict.noting("; \(guardConfig.oldSide) as in its last window with requests") }
            var run = guardBook.run(guardConfig)
            let action = run.checked(verdict, checks: guardConfig.checks, at: AuditLog.now())
            guardBook.runs[key] = run
            if case .trip(let figures) = action { tripped(guardConfig, figures: figures, trip: run.trip!) }
        }
        // A removed guard's baseline is not kept (the record is saved with the state file).
        if guardBook.record.oldBaselines != nil { guardBook.keepBaselines(of: Set(allGuards.map(GuardBook.baselineKey))) }
        // The fleet's latches first: a trip acknowledged on another instance must not have
        // its pending revert retried below (it would undo what people did since the ack).
        syncFleetLatches()
        retryFailedReverts()
        planTick(windows)
    }

    /// The actor and command line a guard's own commits carry.
    private func guardActor(_ guardConfig: GuardConfig, reason: String) -> (Caller, AdminCommandLine) {
        let actor = Caller(uid: geteuid(), gid: getegid(), pid: getpid(), userName: "guard \(guardConfig.route) \(guardConfig.name)")
        var command = (try? AdminCommandLine(parsing: "guard \(guardConfig.route) \(guardConfig.name) trip")) ?? (try! AdminCommandLine(parsing: "guard trip"))
        command.reason = reason
        return (actor, command)
    }

    /// A revert guard whose revert could not be committed (the state file, a name, the
    /// fleet's store) tries again every `revertRetrySeconds` while its trip stays latched:
    /// the cause may pass (space freed, the store back) at 2 a.m. with nobody watching.
    /// An `ack`, or nothing left to revert (a person moved the route back), ends the retries.
    private func retryFailedReverts() {
        if !guardBook.restoredRetries {
            guardBook.restoredRetries = true
            restoreRevertRetries()
        }
        guard !guardBook.revertRetry.isEmpty else { return }
        let now = GuardEvaluator.clockSeconds()
        let guards = allGuards.filter { $0.mode == .revert }
        for key in guardBook.revertRetry.keys where !guards.contains(where: { GuardBook.key($0) == key }) {
            guardBook.revertRetry[key] = nil
        }
        for guardConfig in guards {
            let key = GuardBook.key(guardConfig)
            guard let pending = guardBook.revertRetry[key], now >= pending.next else { continue }
            guard guardBook.record.trips[key] != nil, revertChange(guardConfig) != nil else {
                guardBook.revertRetry[key] = nil
                clearRevertPending(key)
                continue
            }
            let (actor, command) = guardActor(guardConfig, reason: pending.figures + "; revert retried")
            do {
                // Cleared first, so that the commit's state file says it is done; put back
                // if the commit fails.
                guardBook.record.trips[key]?.revertPending = nil
                // After the store's read (`commitAsActor`): a latch acknowledged on another
                // instance meanwhile reverts nothing; the next tick opens it here.
                let committed = try commitAsActor(command, actor) { () -> Change? in
                    acknowledgedInFleet(key) ? nil : revertChange(guardConfig)
                }
                guardBook.revertRetry[key] = nil
                errorLog.warning("guard \(guardConfig.route) \(guardConfig.name): " + (committed == nil ? "revert not retried: nothing left to revert, or acknowledged in the fleet" : "revert committed on a retry"))
            } catch {
                guardBook.record.trips[key]?.revertPending = true
                guardBook.revertRetry[key] = (pending.figures, now + Self.revertRetrySeconds)
                errorLog.error("guard \(guardConfig.route) \(guardConfig.name): revert failed again: \(error.message)")
            }
        }
    }

    static let revertRetrySeconds = 5.0

    /// A start or a hand-over brings back a revert guard's latch from the state file, and
    /// whether its revert was still pending (`GuardTrip.revertPending`): those are retried
    /// from the first tick. Before, a restart after a failed revert (the fleet's store out of
    /// reach) kept the latch and never tried again: the failing side kept its share. Only a
    /// pending one: a revert that was committed, and a change made since by someone else
    /// (another fleet instance), is not undone by a restart.
    private func restoreRevertRetries() {
        for guardConfig in allGuards where guardConfig.mode == .revert {
            let key = GuardBook.key(guardConfig)
            guard guardBook.revertRetry[key] == nil, let trip = guardBook.record.trips[key], trip.revertPending == true else { continue }
            guardBook.revertRetry[key] = (trip.figures, 0)
            errorLog.warning("guard \(guardConfig.route) \(guardConfig.name): latched with its revert pending; retrying it")
        }
    }

    /// The pending revert is done with (committed, or nothing left to revert).
    private func clearRevertPending(_ key: String) {
        guard guardBook.record.trips[key]?.revertPending != nil else { return }
        guardBook.record.trips[key]?.revertPending = nil
        saveGuardRecord()
    }

    /// Carries out a trip: latched in the state file, counted, logged, and for `revert` the
    /// route restored as it was before the new side gained traffic — a commit whose actor is
    /// the guard and whose reason is the window's figures.
    private func tripped(_ guardConfig: GuardConfig, figures: String, trip: GuardTrip) {
        let key = GuardBook.key(guardConfig)
        guardBook.record.trips[key] = trip
        guardBook.tripsTotal[key, default: 0] += 1
        errorLog.warning("guard \(guardConfig.route) \(guardConfig.name) (\(guardConfig.kind.rawValue), \(guardConfig.mode.rawValue)) tripped: \(figures)")
        let (actor, command) = guardActor(guardConfig, reason: figures)
        // In a fleet the latch goes to the store first: from then on no instance raises the
        // new side, while the revert below is still on its way.
        shareTrip(guardConfig)
        // A trip aborts the route's plans; a revert guard's own commit below puts the route back.
        if guardConfig.mode != .observe { abortPlans(on: guardConfig.route, because: "guard \(guardConfig.name) tripped: \(figures)",
                   revert: guardConfig.mode != .revert || revertChange(guardConfig) == nil) }
        var failure: String?
        if guardConfig.mode == .revert, revertChange(guardConfig) != nil {
            do {
                if try commitAsActor(command, actor, { revertChange(guardConfig) }) != nil { return }
            } catch {
                failure = error.message
                guardBook.record.trips[key]?.revertPending = true
                guardBook.revertRetry[key] = (figures, GuardEvaluator.clockSeconds() + Self.revertRetrySeconds)
                errorLog.error("guard \(guardConfig.route) \(guardConfig.name): revert failed: \(error.message); retried every \(Int(Self.revertRetrySeconds)) s while latched")
            }
        }
        // No routing change (observe, freeze, nothing to revert to, or a revert that could
        // not be committed): the latch and the figures are still written down. A failed
        // revert says so — the new side still has its traffic and a person must act — and
        // the latch still refuses raises of the new side.
        saveGuardRecord()
        let what: String
        if let failure {
            what = "revert FAILED (\(failure)); \(guardConfig.newSide) keeps its share, retried every \(Int(Self.revertRetrySeconds)) s, raises refused until ack"
        } else {
            what = guardConfig.mode == .observe ? "observed only" : (guardConfig.mode == .freeze ? "raises of \(guardConfig.newSide) refused until ack" : "nothing to revert to")
        }
        try? audit.append(.init(time: trip.time, outcome: failure == nil ? "accepted" : "failed", uid: actor.uid, pid: actor.pid, user: actor.userName,
                                command: command.text, reason: figures, changes: ["guard \(guardConfig.name) tripped: \(what)"],
                                error: failure, generationBefore: table.generation, generation: table.generation))
        notify(command, actor, changes: ["guard \(guardConfig.name) tripped: \(what)"], generationBefore: table.generation,
               generation: table.generation, figures: figures)
    }

    /// The change a revert guard makes: its route's runtime as it was before the new side
    /// last gained traffic; nil when the new side never had less.
    func revertChange(_ guardConfig: GuardConfig) -> Change? {
        guard let route = config.routes.first(where: { $0.name == guardConfig.route }),
              let target = RevertTarget.find(route: route, newSide: guardConfig.newSide,
                                             generations: history.map { ($0.generation, $0.state) }) else { return nil }
        var state = table.state
        state.routes[route.name] = Self.routing(of: target.runtime, keepingHoldOf: state.routes[route.name])
        return Change(state: state.reconciled(with: config).0,
                      extraLines: ["guard \(guardConfig.name): route \(route.name) as in generation \(target.generation)"])
    }

    /// `earlier`'s routing (split, sides, cohorts) with `current`'s write hold: a revert of
    /// the traffic must not end a hold a person put on (nil: as in the routes file).
    static func routing(of earlier: RouteRuntime?, keepingHoldOf current: RouteRuntime?) -> RouteRuntime? {
        var runtime = earlier ?? RouteRuntime()
        runtime.hold = current?.hold
        return runtime.isEmpty ? nil : runtime
    }

    /// A latched guard (freeze or revert mode) refuses any change that raises its route's
    /// new side, whoever asks (a person, a plan); in a fleet, so does a latch in the store.
    func refuseGuardedRaise(old: RouteTable, newState: RuntimeState, config newConfig: RoutesConfig,
                            fleetLatches: Bool = true) throws(AdminError) {
        for guardConfig in allGuards where guardConfig.mode != .observe {
            guard let trip = guardBook.record.trips[GuardBook.key(guardConfig)],
                  let route = newConfig.routes.first(where: { $0.name == guardConfig.route }) else { continue }
            if route.raises(guardConfig.newSide, from: old.state.routes[route.name], to: newState.routes[route.name]) {
                throw AdminError("route \(route.name): guard \(guardConfig.name) tripped at \(trip.time) (\(trip.figures)); \(guardConfig.newSide)'s share may not rise until `guard \(route.name) ack`")
            }
        }
        if fleetLatches { try refuseFleetLatchedRaise(old: old, newState: newState, config: newConfig) }
    }

    /// Writes the state file again with the same generation (a guard or plan changed).
    func saveGuardRecord() {
        do {
            try StateFile(generation: table.generation, state: table.state, history: history, guards: guardBook.record).save(path: statePath)
        } catch {
            errorLog.error("state file: \(error.message)")
        }
    }

    /// Runs a guard or plan command. One refused after it changed the book — its state file
    /// or its audit line could not be written — gets the book back as it was, and the state
    /// file with it: a refused command changes nothing (a guard added in memory only would
    /// still trip and revert; a plan would still step).
    func keepingGuardsOnRefusal(_ body: () throws(AdminError) -> AdminAnswer) throws(AdminError) -> AdminAnswer {
        let before = guardBook
        let writesBefore = guardRecordWrites
        do {
            return try body()
        } catch {
            guardBook = before
            if guardRecordWrites != writesBefore { saveGuardRecord() }
            throw error
        }
    }

    /// An accepted guard or plan command that changes no generation: state file, audit.
    func recordGuardChange(_ command: AdminCommandLine, _ caller: Caller, _ changes: [String]) throws(AdminError) {
        try StateFile(generation: table.generation, state: table.state, history: history, guards: guardBook.record).save(path: statePath)
        guardRecordWrites += 1
        try audit.append(.init(time: AuditLog.now(), outcome: "accepted", uid: caller.uid, pid: caller.pid, user: caller.userName,
                               command: command.text, reason: command.reason, changes: changes, error: nil,
                               generationBefore: table.generation, generation: table.generation))
        notify(command, caller, changes: changes, generationBefore: table.generation, generation: table.generation)
    }

    /// Each guard with its state, for `guards`, `status` and /status.json.
    func guardStates() -> [(config: GuardConfig, run: GuardRun, trips: UInt64)] {
        allGuards.map { ($0, guardBook.run($0), guardBook.tripsTotal[GuardBook.key($0)] ?? 0) }
    }

    /// `guardStates` under the commit lock (for the metrics listener's thread).
    public var guardSnapshot: [(route: String, name: String, kind: String, mode: String, state: String, figures: String, tripped: String?, trips: UInt64)] {
        lock.withLock {
            guardStates().map { ($0.config.route, $0.config.name, $0.config.kind.rawValue, $0.config.mode.rawValue,
                                 $0.run.tripped ? "tripped" : $0.run.lastWord, $0.run.lastFigures, $0.run.trip?.time, $0.trips) }
        }
    }
}
