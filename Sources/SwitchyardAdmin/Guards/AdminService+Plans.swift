import Foundation
import Glibc
import SwitchyardRouting
import SwitchyardSystem

/// Plans on the admin side: each step and each abort is a commit whose actor is the plan;
/// the clock is the guard evaluator's tick. Everything here runs under the commit lock.
extension AdminService {
    /// The routes file's plans, then those loaded at run time (a loaded plan of the same
    /// name replaces the file's).
    var allPlans: [PlanConfig] {
        let loaded = guardBook.record.loadedPlans
        return config.plans.filter { plan in !loaded.contains { $0.name == plan.name } } + loaded
    }

    func plan(named name: String) throws(AdminError) -> PlanConfig {
        guard let plan = allPlans.first(where: { $0.name == name }) else {
            let known = allPlans.map(\.name)
            throw AdminError("unknown plan \"\(name)\"" + (known.isEmpty ? " (no plan is defined)" : " (plans: \(known.joined(separator: ", ")))"))
        }
        return plan
    }

    /// One tick of every running plan.
    func planTick(_ windows: GuardWindows) {
        let now = Clock.monotonicMilliseconds()
        let elapsed = Int(guardBook.lastPlanTick.map { now &- $0 } ?? 0)
        guardBook.lastPlanTick = now
        for plan in allPlans {
            guard var progress = guardBook.record.plans[plan.name], progress.phase == .running else { continue }
            let action = progress.tick(elapsedMilliseconds: elapsed, plan: plan, guardsNotGreen: guardsNotGreen(plan))
            guardBook.record.plans[plan.name] = progress
            // The last step's hold ran out (a last step without one completes in carryOut).
            if progress.phase == .completed {
                planCompleted(plan)
                saveGuardRecord()
            }
            carryOut(action, plan)
        }
    }

    /// nil when every gating guard has enough data and is green; else which are not.
    func guardsNotGreen(_ plan: PlanConfig) -> String? {
        let waiting = plan.gating(allGuards).compactMap { g -> String? in
            let run = guardBook.run(g)
            if run.tripped { return "\(g.name) tripped" }
            return run.lastWord == "green" ? nil : "\(g.name) \(run.lastWord)"
        }
        return waiting.isEmpty ? nil : waiting.joined(separator: ", ")
    }

    /// Commits what a plan's machine asked for, and tells the machine how it went.
    func carryOut(_ action: PlanProgress.Action, _ plan: PlanConfig) {
        switch action {
        case .none:
            return
        case .apply(let k):
            // The machine asks only for steps the plan has (a stored plan is checked for
            // steps on load); a precondition, not a crash on a bad file.
            precondition(plan.steps.indices.contains(k), "plan \(plan.name) has no step \(k + 1)")
            let step = plan.steps[k]
            let line = step.basisPoints.map { "weight \(plan.route) \(plan.newSide) \(Percent.format($0))" } ?? "flip \(plan.route)"
            let actor = planActor(plan, "step \(k + 1)")
            // The step is recorded before the commit, so the state file the commit writes
            // already says which step is in force; put back if the commit is refused.
            let before = guardBook.record.plans[plan.name]
            guardBook.record.plans[plan.name]?.stepApplied(k, plan: plan)
            do {
                let words = try AdminCommandLine(parsing: line)
                var command = try AdminCommandLine(parsing: "plan \(plan.name) step \(k + 1)")
                command.reason = "\(step.text) (\(line))"
                _ = try commitAsActor(command, actor) { () throws(AdminError) -> Change? in
                    step.basisPoints == nil ? try AdminCommands.flip(self, words, toward: plan.newSide) : try AdminCommands.weight(self, words)
                }
                errorLog.info("plan \(plan.name): step \(k + 1) of \(plan.steps.count) applied: \(step.text)")
                if guardBook.record.plans[plan.name]?.phase == .completed { planCompleted(plan) }
            } catch {
                guardBook.record.plans[plan.name] = before
                guardBook.record.plans[plan.name]?.stepFailed(k, error.message)
                errorLog.warning("plan \(plan.name): step \(k + 1) refused: \(error.message)")
            }
        case .revert(let generation):
            revertPlan(plan, to: generation, actor: planActor(plan, "abort"))
        }
        saveGuardRecord()
    }

    private func planCompleted(_ plan: PlanConfig) {
        errorLog.info("plan \(plan.name) completed")
        if let command = try? AdminCommandLine(parsing: "plan \(plan.name) completed") {
            notify(command, planActor(plan, "completed"), changes: ["plan \(plan.name) completed"],
                   generationBefore: table.generation, generation: table.generation, kind: "plan-completed")
        }
    }

    func planActor(_ plan: PlanConfig, _ what: String) -> Caller {
        Caller(uid: geteuid(), gid: getegid(), pid: getpid(), userName: "plan \(plan.name) \(what)")
    }

    /// The route as it was in `generation` (before the plan started).
    private func revertPlan(_ plan: PlanConfig, to generation: UInt64, actor: Caller) {
        guard let entry = history.last(where: { $0.generation == generation }) else {
            errorLog.error("plan \(plan.name): generation \(generation) is no longer in the history; route \(plan.route) left as it is")
            return
        }
        do {
            var command = try AdminCommandLine(parsing: "plan \(plan.name) abort")
            command.reason = guardBook.record.plans[plan.name]?.note
            _ = try commitAsActor(command, actor) {
                var state = table.state
                state.routes[plan.route] = Self.routing(of: entry.state.routes[plan.route], keepingHoldOf: state.routes[plan.route])
                return Change(state: state.reconciled(with: config).0,
                              extraLines: ["plan \(plan.name): route \(plan.route) as in generation \(generation)"])
            }
        } catch {
            errorLog.error("plan \(plan.name): abort could not revert: \(error.message)")
        }
    }

    /// A change to a running plan's route by anyone but the plan — a person's `revert`,
    /// `weight`, `flip` or cohort, another instance's commit — pauses the plan, with a line
    /// saying so for the answer. Left running, its next step would undo that change: an
    /// emergency revert overridden by the ramp a few minutes later, the users just moved
    /// back sent to the new side again. A hold or mirror setting is not routing and pauses
    /// nothing. `plan resume` goes on from the step in force. Under the commit lock.
    func pausePlansOverridden(from old: RuntimeState, to new: RuntimeState, by command: String) -> [String] {
        func routing(_ route: RouteRuntime?) -> RouteRuntime {
            guard let route else { return RouteRuntime() }
            return RouteRuntime(active: route.active, standby: route.standby, split: route.split,
                                extraCohorts: route.extraCohorts, removedCohorts: route.removedCohorts)
        }
        var lines: [String] = []
        for plan in allPlans where !command.hasPrefix("plan \(plan.name) ") {
            guard var progress = guardBook.record.plans[plan.name], progress.phase == .running,
                  routing(old.routes[plan.route]) != routing(new.routes[plan.route]) else { continue }
            let why = "route \(plan.route) changed by `\(AdminText.stored(command))`"
            guard (try? progress.pauseForChange(why)) != nil else { continue }
            guardBook.record.plans[plan.name] = progress
            errorLog.warning("plan \(plan.name) paused: \(why)")
            lines.append("plan \(plan.name) paused: its route changed; `plan resume \(plan.name)` applies step \(progress.step + 1) again")
        }
        if !lines.isEmpty { saveGuardRecord() }
        return lines
    }

    /// A guard of `route` tripped: its plans abort; they revert unless the guard does.
    func abortPlans(on route: String, because reason: String, revert: Bool) {
        for plan in allPlans where plan.route == route {
            guard var progress = guardBook.record.plans[plan.name], progress.isActive,
                  let action = try? progress.abort(reason) else { continue }
            guardBook.record.plans[plan.name] = progress
            errorLog.warning("plan \(plan.name) aborted: \(reason)")
            if revert { carryOut(action, plan) } else { saveGuardRecord() }
        }
    }
}
