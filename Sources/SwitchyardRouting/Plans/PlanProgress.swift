/// Where a plan stands: a state machine without I/O. The admin side feeds it commands and
/// a tick a second (time passed, whether its guards are ready and green) and carries out
/// the action it returns (a step is a commit; an abort is a revert). Persisted in the state
/// file, so that a restart finds it — paused.
public struct PlanProgress: Sendable, Equatable, Codable {
    public enum Phase: String, Sendable, Codable {
        /// Loaded, never started (or completed/aborted and started again).
        case idle
        /// `start` was given; a second person of the approving group must `approve`.
        case awaitingApproval = "awaiting approval"
        /// Holding the current step; advances when its time is up and its guards are green.
        case running
        /// Holding the current step without advancing (its time does not count).
        case paused
        case aborted
        case completed
    }

    public private(set) var phase: Phase = .idle
    /// The step in force (-1: none applied yet).
    public private(set) var step = -1
    /// Time spent running in the current step.
    public private(set) var heldMilliseconds = 0
    public private(set) var startedBy: UInt32?
    public private(set) var approvedBy: UInt32?
    /// The generation in force when the plan started: `abort` restores the route as it was.
    public private(set) var generationBefore: UInt64?
    /// What the plan waits for, or what happened to it (shown in `plan status`).
    public private(set) var note: String?
    /// Paused because someone else changed the route: `resume` applies the step in force
    /// again (its clock from zero), since the route no longer is as the step left it.
    /// Optional so that a state file written before it reads back.
    public private(set) var reapplyOnResume: Bool?

    public init() {}

    /// What the owner must do.
    public enum Action: Sendable, Equatable {
        case none
        /// Commit step `k` (then report `stepApplied` or `stepFailed`).
        case apply(Int)
        /// Restore the route as in `generation` (abort).
        case revert(toGeneration: UInt64)
    }

    public var isActive: Bool { phase == .running || phase == .paused || phase == .awaitingApproval }

    /// `plan start`. With an approving group the plan waits for `approve`.
    public mutating func start(by uid: UInt32, generation: UInt64, needsApproval: Bool) throws(PlanRefusal) -> Action {
        guard !isActive else { throw PlanRefusal("the plan is already \(phase.rawValue)") }
        self = PlanProgress()
        startedBy = uid
        generationBefore = generation
        if needsApproval {
            phase = .awaitingApproval
            note = "waiting for approval by another person of the approving group"
            return .none
        }
        phase = .running
        return .apply(0)
    }

    /// `plan approve`: by someone other than the starter (the group is the caller's check).
    public mutating func approve(by uid: UInt32) throws(PlanRefusal) -> Action {
        guard phase == .awaitingApproval else { throw PlanRefusal("the plan is \(phase.rawValue), not awaiting approval") }
        guard uid != startedBy else { throw PlanRefusal("the person who started the plan cannot approve it (uid \(uid)): another person must") }
        approvedBy = uid
        phase = .running
        note = nil
        return .apply(0)
    }

    public mutating func pause() throws(PlanRefusal) {
        guard phase == .running else { throw PlanRefusal("the plan is \(phase.rawValue), not running") }
        phase = .paused
        note = "paused"
    }

    /// Someone else changed the plan's route: paused, its note says by what.
    public mutating func pauseForChange(_ why: String) throws(PlanRefusal) {
        try pause()
        note = "paused: \(why); `plan resume` applies step \(step + 1) again"
        reapplyOnResume = step >= 0 ? true : nil
    }

    /// `plan resume`: `.apply(step)` when the route was changed under the plan.
    public mutating func resume() throws(PlanRefusal) -> Action {
        guard phase == .paused else { throw PlanRefusal("the plan is \(phase.rawValue), not paused") }
        phase = .running
        note = nil
        guard reapplyOnResume == true else { return .none }
        reapplyOnResume = nil
        return .apply(step)
    }

    /// `plan abort`, or a guard trip: the route goes back to before the plan (when a step
    /// was applied).
    public mutating func abort(_ why: String) throws(PlanRefusal) -> Action {
        guard isActive else { throw PlanRefusal("the plan is \(phase.rawValue): nothing to abort") }
        phase = .aborted
        note = why
        guard step >= 0, let generationBefore else { return .none }
        return .revert(toGeneration: generationBefore)
    }

    /// One tick: `elapsedMilliseconds` passed; `guardsGreen` nil when every gating guard has
    /// enough data and is green, else why not.
    public mutating func tick(elapsedMilliseconds: Int, plan: PlanConfig, guardsNotGreen: String?) -> Action {
        guard phase == .running, step >= 0, step < plan.steps.count else { return .none }
        guard let hold = plan.steps[step].holdMilliseconds else { return .none }
        heldMilliseconds = min(hold, heldMilliseconds + elapsedMilliseconds)
        guard heldMilliseconds >= hold else {
            note = nil
            return .none
        }
        if let guardsNotGreen {
            note = "time is up, waiting for guards: \(guardsNotGreen)"
            return .none
        }
        guard step + 1 < plan.steps.count else {
            phase = .completed
            note = "completed"
            return .none
        }
        return .apply(step + 1)
    }

    /// The owner committed step `k`.
    public mutating func stepApplied(_ k: Int, plan: PlanConfig) {
        step = k
        heldMilliseconds = 0
        note = nil
        if plan.steps[k].holdMilliseconds == nil {
            phase = .completed
            note = "completed"
        }
    }

    /// The owner could not commit a step: the plan pauses and says why.
    public mutating func stepFailed(_ k: Int, _ why: String) {
        phase = .paused
        note = "step \(k + 1) was refused: \(why)"
    }

    /// Read back after a restart: a plan that was running resumes paused, never by itself.
    public mutating func restored() {
        guard phase == .running else { return }
        phase = .paused
        note = "paused by a restart; `plan resume` to go on"
    }
}

/// Why a plan command is refused (one line).
public struct PlanRefusal: Error, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}
