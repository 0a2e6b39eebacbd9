import SwitchyardRouting

/// What survives a restart of the guards: the guards added at run time and the trips not
/// yet acknowledged (a latch must not open by restarting). Kept in the state file.
public struct GuardRecord: Sendable, Codable, Equatable {
    public var runtimeGuards: [GuardConfig] = []
    /// By `route/name`.
    public var trips: [String: GuardTrip] = [:]
    /// Plans given to `plan load` (the routes file's are read from it).
    public var loadedPlans: [PlanConfig] = []
    /// Every plan's progress, by plan name.
    public var plans: [String: PlanProgress] = [:]
    /// Per guard and old side (`GuardBook.baselineKey`): the old side's last window with at
    /// least the guard's `min` requests (`GuardBook.oldBaseline`). Written with the rest
    /// whenever the file is — a flip is a commit, so the window from before it is on disk —
    /// and read back at start and after an upgrade's hand-over: a guard restarted after a
    /// completed flip still has an old side to judge the new one against. Advisory: a window
    /// that does not fit is dropped at load (`GuardBook.init`), the file is not refused.
    /// Absent in older files.
    public var oldBaselines: [String: SideWindow]?

    public init() {}

    /// The first value outside what a command could have set (see `RangeChecks`), or nil.
    public var rangeProblem: String? {
        runtimeGuards.lazy.compactMap(\.rangeProblem).first
            ?? loadedPlans.lazy.compactMap(\.rangeProblem).first
            ?? plans.values.lazy.compactMap(\.rangeProblem).first
    }
}

/// The guards' state on the admin side, under the commit lock: the record, every guard's
/// run (red checks in a row, last verdict) and the trips counted since start for /metrics.
struct GuardBook {
    var record: GuardRecord
    var runs: [String: GuardRun] = [:]
    var tripsTotal: [String: UInt64] = [:]
    /// Monotonic milliseconds of the last plan tick (plans count time only while running).
    var lastPlanTick: UInt64?
    /// Per guard key: the evaluator's clock (monotonic seconds) at its last `ack`. Its windows
    /// start there: the failures that tripped it must not trip it again after the ack.
    var countFrom: [String: Double] = [:]
    /// Per guard key: the old side's last window with at least the guard's `min` requests
    /// (kept in the record: see `GuardRecord.oldBaselines`). Once a flip or a plan's last
    /// step has moved everything, the old side's window shrinks and empties: the new side is
    /// then judged against the old side as it last was, not against its last stragglers or
    /// nothing.
    var oldBaseline: [String: SideWindow] { record.oldBaselines ?? [:] }

    /// Keeps `window` as the guard's old-side baseline.
    mutating func remember(_ window: SideWindow, for key: String) {
        if record.oldBaselines == nil { record.oldBaselines = [:] }
        record.oldBaselines![key] = window
    }

    /// Drops the baselines of guards no longer defined (`keys`: every guard's `baselineKey`).
    mutating func keepBaselines(of keys: Set<String>) {
        keepBaselines { key, _ in keys.contains(key) }
    }

    /// Keeps the baselines `keep` says, only writing when one goes.
    private mutating func keepBaselines(where keep: (String, SideWindow) -> Bool) {
        guard let baselines = record.oldBaselines, baselines.contains(where: { !keep($0.key, $0.value) }) else { return }
        let kept = baselines.filter { keep($0.key, $0.value) }
        record.oldBaselines = kept.isEmpty ? nil : kept
    }

    /// A baseline belongs to a guard and its old side: a guard redefined against another
    /// side does not judge by the first one's window.
    static func baselineKey(_ guardConfig: GuardConfig) -> String { "\(key(guardConfig))/\(guardConfig.oldSide)" }
    /// Per guard key: a revert that could not be committed, its figures and when (the
    /// evaluator's clock) to try again. Not persisted itself: the trip in the state file says
    /// its revert is pending (`GuardTrip.revertPending`), and the first tick after a start
    /// or a hand-over schedules those again (`restoredRetries`).
    var revertRetry: [String: (figures: String, next: Double)] = [:]
    /// The first tick of this process has scheduled the pending reverts of the record.
    var restoredRetries = false
    /// In a fleet: the latches (`route/guard@time`) this process has already acted on — a
    /// trip here, or one made elsewhere whose plans it aborted (`syncFleetLatches`).
    var latchesHandled: Set<String> = []
    /// The evaluator's clock at which trips not yet shared with the fleet are tried again.
    var nextLatchShare = 0.0

    init(record: GuardRecord? = nil) {
        self.record = record ?? GuardRecord()
        // Advisory: a saved window that does not fit is dropped, not a reason to refuse.
        keepBaselines { _, window in window.rangeProblem == nil }
        // A plan that was running before a restart waits for a person.
        for name in self.record.plans.keys { self.record.plans[name]!.restored() }
    }

    static func key(_ guardConfig: GuardConfig) -> String { key(route: guardConfig.route, name: guardConfig.name) }
    /// `route/name`: the guard book's key, and the fleet's `latches` key of the same guard.
    static func key(route: String, name: String) -> String { "\(route)/\(name)" }

    /// A guard's run, with its latch as persisted.
    func run(_ guardConfig: GuardConfig) -> GuardRun {
        let key = Self.key(guardConfig)
        return runs[key] ?? GuardRun(trip: record.trips[key])
    }
}
