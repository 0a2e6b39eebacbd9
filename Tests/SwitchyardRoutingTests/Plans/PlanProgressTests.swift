import Testing
@testable import SwitchyardRouting

/// The plan's state machine without a clock or sockets: its actions for each event.
@Suite struct PlanProgressTests {
    let plan = PlanConfig(name: "ramp", route: "app", newSide: "cloud", oldSide: "legacy", steps: [
        PlanStep(basisPoints: 500, holdMilliseconds: 2_000, text: "cloud 5% for 2s"),
        PlanStep(basisPoints: 2_500, holdMilliseconds: 2_000, text: "cloud 25% for 2s"),
        PlanStep(basisPoints: 10_000, holdMilliseconds: nil, text: "cloud 100%"),
    ])

    @Test func rampsOnlyWhenTimeIsUpAndGuardsAreGreen() throws {
        var p = PlanProgress()
        #expect(try p.start(by: 1000, generation: 7, needsApproval: false) == .apply(0))
        p.stepApplied(0, plan: plan)
        #expect(p.tick(elapsedMilliseconds: 1_999, plan: plan, guardsNotGreen: nil) == .none)
        // Time is up, but a guard lacks data: wait, and say why.
        #expect(p.tick(elapsedMilliseconds: 1, plan: plan, guardsNotGreen: "errs insufficient data") == .none)
        #expect(p.note?.contains("waiting for guards: errs insufficient data") == true)
        #expect(p.tick(elapsedMilliseconds: 1_000, plan: plan, guardsNotGreen: nil) == .apply(1))
        p.stepApplied(1, plan: plan)
        #expect(p.tick(elapsedMilliseconds: 2_000, plan: plan, guardsNotGreen: nil) == .apply(2))
        p.stepApplied(2, plan: plan)
        #expect(p.phase == .completed)
        #expect(p.tick(elapsedMilliseconds: 60_000, plan: plan, guardsNotGreen: nil) == .none)
    }

    @Test func pauseStopsTheClockAndAbortReverts() throws {
        var p = PlanProgress()
        _ = try p.start(by: 1000, generation: 7, needsApproval: false)
        p.stepApplied(0, plan: plan)
        try p.pause()
        #expect(p.tick(elapsedMilliseconds: 10_000, plan: plan, guardsNotGreen: nil) == .none)
        #expect(p.heldMilliseconds == 0)
        #expect(throws: PlanRefusal.self) { try p.pause() }
        #expect(try p.resume() == .none, "a pause by hand resumes where it stood")
        #expect(try p.abort("by hand") == .revert(toGeneration: 7))
        #expect(p.phase == .aborted)
        #expect(throws: PlanRefusal.self) { try p.abort("again") }
    }

    /// Paused because someone else changed the route: resuming applies the step in force
    /// again, once; the note says so meanwhile.
    @Test func aPauseForAChangeReappliesTheStepOnResume() throws {
        var p = PlanProgress()
        _ = try p.start(by: 1000, generation: 7, needsApproval: false)
        p.stepApplied(0, plan: plan)
        try p.pauseForChange("route app changed by `revert`")
        #expect(p.phase == .paused && p.note?.contains("changed by `revert`") == true)
        #expect(try p.resume() == .apply(0))
        try p.pause()
        #expect(try p.resume() == .none)
    }

    @Test func approvalByTheStarterIsRefused() throws {
        var p = PlanProgress()
        #expect(try p.start(by: 1000, generation: 3, needsApproval: true) == .none)
        #expect(p.phase == .awaitingApproval)
        #expect(throws: PlanRefusal.self) { try p.approve(by: 1000) }
        #expect(try p.approve(by: 1001) == .apply(0))
        // Aborting before any step was applied has nothing to revert.
        var q = PlanProgress()
        _ = try q.start(by: 1, generation: 3, needsApproval: true)
        #expect(try q.abort("no") == .none)
    }

    @Test func aRestartLeavesARunningPlanPaused() throws {
        var p = PlanProgress()
        _ = try p.start(by: 1000, generation: 7, needsApproval: false)
        p.stepApplied(0, plan: plan)
        p.restored()
        #expect(p.phase == .paused && p.note?.contains("restart") == true)
        #expect(p.tick(elapsedMilliseconds: 10_000, plan: plan, guardsNotGreen: nil) == .none)
    }

    @Test func aRefusedStepPauses() throws {
        var p = PlanProgress()
        _ = try p.start(by: 1000, generation: 7, needsApproval: false)
        p.stepFailed(0, "guard tripped")
        #expect(p.phase == .paused && p.note == "step 1 was refused: guard tripped")
    }

    /// A stored plan without steps (no routes file writes one; a damaged state file could) is
    /// refused when loaded: `plan start` would have applied a step that is not there (a crash).
    @Test func aPlanWithoutStepsIsOutOfRange() {
        #expect(PlanConfig(name: "p", route: "app", newSide: "cloud", oldSide: "legacy", steps: []).rangeProblem == "plan p has no steps")
        #expect(plan.rangeProblem == nil)
    }
}
