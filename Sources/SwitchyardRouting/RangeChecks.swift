/// Range checks for runtime values read back from outside — the state file, the fleet's
/// document in etcd — where no command's own parsing vouched for them. Commands keep every
/// value in these ranges; a value past them (a hand-edited or corrupt file, a bad write to
/// the store) would make the table build or the request path trap on overflow. Each answers
/// the first problem as one line, or nil.

extension RuntimeState {
    /// The newest wall-clock time (seconds since 1970) a hold may have started: year 5138.
    static let latestSince: Double = 1e11

    public var rangeProblem: String? {
        for (name, route) in routes.sorted(by: { $0.key < $1.key }) {
            for entry in route.split ?? [] where !(0...10_000).contains(entry.basisPoints) {
                return "route \(name): split share \(entry.basisPoints) of \(entry.backend) is outside 0…10000 basis points"
            }
            if let mirror = route.mirror, !(0...10_000).contains(mirror.basisPoints) {
                return "route \(name): mirror share \(mirror.basisPoints) is outside 0…10000 basis points"
            }
            if let hold = route.hold {
                guard hold.since.isFinite, (0...Self.latestSince).contains(hold.since) else {
                    return "route \(name): hold start \(hold.since) is not a time"
                }
                guard (1...HoldState.maxMaxWaitSeconds).contains(hold.maxWaitSeconds) else {
                    return "route \(name): hold max-wait \(hold.maxWaitSeconds)s is outside 1…\(HoldState.maxMaxWaitSeconds)s"
                }
            }
        }
        return nil
    }
}

extension GuardConfig {
    /// The ranges `set(_:_:)` enforces on each option, where 0 also stands for an option
    /// the guard's kind does not use (a latency guard's `points`, an errors guard's `above`).
    public var rangeProblem: String? {
        guard points == 0 || Self.pointsRange.contains(points), Self.timesRange.contains(times),
              aboveMilliseconds == 0 || Self.aboveRange.contains(aboveMilliseconds),
              Self.minRequestsRange.contains(minRequests), Self.windowRange.contains(windowSeconds),
              Self.checksRange.contains(checks) else {
            return "guard \(name) on route \(route) has an option outside its range"
        }
        return nil
    }
}

extension PlanConfig {
    /// The ranges the plan reader enforces: at least one step, shares 0…10000, holds up to
    /// 7 days.
    public var rangeProblem: String? {
        // The reader never makes a plan without steps; a stored one would have `plan start`
        // apply a step that is not there.
        if steps.isEmpty { return "plan \(name) has no steps" }
        for step in steps {
            if let points = step.basisPoints, !(0...10_000).contains(points) {
                return "plan \(name): a step's share \(points) is outside 0…10000 basis points"
            }
            if let hold = step.holdMilliseconds, !(0...PlanConfig.maxHoldMilliseconds).contains(hold) {
                return "plan \(name): a step's hold of \(hold) ms is outside 0…7 days"
            }
        }
        return nil
    }

    /// The longest hold a step may have (`hold 7d`).
    public static let maxHoldMilliseconds = 7 * 86_400_000
}

extension PlanProgress {
    /// A step index a plan of any sane length could reach, and a held time a step's hold allows.
    public var rangeProblem: String? {
        guard (-1...100_000).contains(step), (0...PlanConfig.maxHoldMilliseconds).contains(heldMilliseconds) else {
            return "a plan's progress (step \(step), held \(heldMilliseconds) ms) is out of range"
        }
        return nil
    }
}
