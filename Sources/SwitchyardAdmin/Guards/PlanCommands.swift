import Foundation
import Glibc
import SwitchyardRouting

/// `plan load|start|approve|pause|resume|abort NAME` (changes: audited, in the state file)
/// and `plan status [NAME]` (read-only).
enum PlanCommands {
    static let usage = "plan load FILE | plan start|approve|pause|resume|abort NAME | plan status [NAME]"

    static let specs: [AdminCommandSpec] = [
        .init(word: "plan status", usage: "plan status [NAME]", summary: "each plan: its step, time left, its guards' figures", changes: false) { service, command, _ throws(AdminError) in
            guard command.words.count <= 3 else { throw AdminError("usage: plan status [NAME]") }
            return .answer(status(service, command.words.count == 3 ? command.words[2] : nil))
        },
        .init(word: "plan", usage: "plan load FILE | plan start|approve|pause|resume|abort NAME", summary: "cutover plans: load, start, approve (another person), pause, resume, abort", changes: true) { service, command, caller throws(AdminError) in
            .answer(try service.keepingGuardsOnRefusal { () throws(AdminError) in try run(service, command, caller) })
        },
    ]

    static func run(_ service: AdminService, _ command: AdminCommandLine, _ caller: Caller) throws(AdminError) -> AdminAnswer {
        let words = command.words
        guard words.count == 3 else { throw AdminError("usage: \(usage)") }
        if words[1] == "load" { return try load(service, path: words[2], command, caller) }
        let plan = try service.plan(named: words[2])
        var progress = service.guardBook.record.plans[plan.name] ?? PlanProgress()
        var action: PlanProgress.Action
        do {
            switch words[1] {
            case "start":
                try refuseIfTripped(service, plan)
                try refuseUnlessCompareReady(service, plan)
                action = try progress.start(by: caller.uid, generation: service.table.generation, needsApproval: plan.approveGroup != nil)
            case "approve":
                guard let group = plan.approveGroup else { throw PlanRefusal("plan \(plan.name) needs no approval") }
                guard isMember(caller, of: group) else { throw PlanRefusal("\(caller.userName) (uid \(caller.uid)) is not in group \(group), which approves plan \(plan.name)") }
                try refuseIfTripped(service, plan)
                try refuseUnlessCompareReady(service, plan)
                action = try progress.approve(by: caller.uid)
            case "pause":
                try progress.pause()
                action = .none
            case "resume":
                action = try progress.resume()
                // A reload may have shortened the plan since it paused: resume where it
                // stands, without the step it no longer has (`carryOut` would trap on it).
                if case .apply(let k) = action, !plan.steps.indices.contains(k) { action = .none }
            case "abort":
                action = try progress.abort("aborted by \(caller.userName)")
            default:
                throw AdminError("usage: \(usage)")
            }
        } catch let refusal as PlanRefusal {
            throw AdminError("plan \(plan.name): \(refusal.message)")
        } catch let error as AdminError {
            throw error
        } catch {
            throw AdminError("plan \(plan.name): \(error)")
        }
        service.guardBook.record.plans[plan.name] = progress
        try service.recordGuardChange(command, caller, ["plan \(plan.name): \(progress.phase.rawValue)"])
        // The step or the revert is its own generation, by the plan.
        service.carryOut(action, plan)
        return status(service, plan.name)
    }

    private static func refuseIfTripped(_ service: AdminService, _ plan: PlanConfig) throws(PlanRefusal) {
        let tripped = plan.gating(service.allGuards).filter { service.guardBook.run($0).tripped }.map(\.name)
        if !tripped.isEmpty { throw PlanRefusal("guard \(tripped.joined(separator: ", ")) of route \(plan.route) is tripped: `guard \(plan.route) ack` first") }
    }

    /// Group membership as the system knows it (primary group or a member of the group).
    static func isMember(_ caller: Caller, of group: String) -> Bool {
        guard let entry = getgrnam(group) else { return false }
        if entry.pointee.gr_gid == caller.gid { return true }
        var member = entry.pointee.gr_mem
        while let name = member?.pointee {
            if String(cString: name) == caller.userName { return true }
            member = member?.advanced(by: 1)
        }
        return false
    }

    private static func load(_ service: AdminService, path: String, _ command: AdminCommandLine, _ caller: Caller) throws(AdminError) -> AdminAnswer {
        guard path.hasPrefix("/") else { throw AdminError("plan load: give an absolute path (the proxy reads the file)") }
        let bytes: [UInt8]?
        do {
            bytes = try DurableFile.read(path, what: "plan file", limit: 64 * 1024)
        } catch {
            throw AdminError("plan load: \(error.message)")
        }
        guard let bytes else { throw AdminError("plan load: \(path) does not exist") }
        let plans: [PlanConfig]
        switch PlanConfig.load(String(decoding: bytes, as: UTF8.self), file: path, config: service.config, guards: service.allGuards) {
        case .success(let read): plans = read
        case .failure(let errors): throw AdminError("plan load refused, nothing changed: " + errors.errors.map(\.description).joined(separator: "; "))
        }
        for plan in plans {
            if service.guardBook.record.plans[plan.name]?.isActive == true {
                throw AdminError("plan load refused, nothing changed: plan \(plan.name) is \(service.guardBook.record.plans[plan.name]!.phase.rawValue); abort it first")
            }
        }
        for plan in plans {
            service.guardBook.record.loadedPlans.removeAll { $0.name == plan.name }
            service.guardBook.record.loadedPlans.append(plan)
            service.guardBook.record.plans[plan.name] = PlanProgress()
        }
        let changes = plans.map { "plan \($0.name) loaded: route \($0.route), \($0.steps.map(\.text).joined(separator: " → "))" }
        try service.recordGuardChange(command, caller, changes)
        return .success(changes.joined(separator: "\n"), json: ["changes": changes])
    }

    /// Each plan (or one): phase, step k of n, time left, and its guards with figures.
    static func status(_ service: AdminService, _ name: String?) -> AdminAnswer {
        let plans = service.allPlans.filter { name == nil || $0.name == name }
        if let name, plans.isEmpty { return .failure(AdminError("unknown plan \"\(name)\"")) }
        if plans.isEmpty { return .success("no plans", json: ["plans": []]) }
        var lines: [String] = []
        var json: [[String: Any]] = []
        for plan in plans {
            let progress = service.guardBook.record.plans[plan.name] ?? PlanProgress()
            var line = "plan \(plan.name) (route \(plan.route), \(plan.newSide) from \(plan.oldSide)): \(progress.phase.rawValue)"
            var left: Double?
            // A reload may have shortened the plan under a progress that is further on.
            if progress.step >= 0 && progress.step < plan.steps.count {
                let step = plan.steps[progress.step]
                line += ", step \(progress.step + 1) of \(plan.steps.count): \(step.text)"
                if let hold = step.holdMilliseconds, progress.phase != .completed, progress.phase != .aborted {
                    left = Double(max(0, hold - progress.heldMilliseconds)) / 1000
                    line += String(format: ", %.1fs left", left!)
                }
            }
            if let note = progress.note { line += " — \(note)" }
            lines.append(line)
            if let group = plan.approveGroup {
                lines.append("  approval: group \(group)" + (progress.approvedBy.map { ", approved by uid \($0)" } ?? ""))
            }
            if plan.requireCompareReady == true {
                lines.append("  requires compare-ready: " + (service.compareReport(route: plan.route).routes.first?.verdict.text ?? "-"))
            }
            let guards = plan.gating(service.allGuards)
            for g in guards {
                let run = service.guardBook.run(g)
                lines.append("  guard \(g.name): \(run.tripped ? "TRIPPED" : run.lastWord) — \(run.trip?.figures ?? run.lastFigures)")
            }
            if guards.isEmpty { lines.append("  no guards gate it: steps advance on time alone") }
            json.append(["name": plan.name, "route": plan.route, "phase": progress.phase.rawValue, "step": progress.step + 1,
                         "steps": plan.steps.map(\.text), "seconds_left": left as Any, "note": progress.note as Any,
                         "guards": guards.map { g -> [String: Any] in
                             let run = service.guardBook.run(g)
                             return ["name": g.name, "state": run.tripped ? "tripped" : run.lastWord, "figures": run.trip?.figures ?? run.lastFigures]
                         }])
        }
        return .success(lines.joined(separator: "\n"), json: ["plans": json])
    }
}
