/// One side of a route over a guard's window: the counts the workers kept, summed over
/// workers and over the window's 1-second steps, and the p95 read from its histogram.
public struct SideWindow: Sendable, Equatable, Codable {
    public var requests: UInt64 = 0
    /// 5xx answers (the backend's or ours) and cuts caused by the upstream.
    public var errors: UInt64 = 0
    /// 401, 403 and 404 answers.
    public var clientErrors: UInt64 = 0
    /// Connect failures, timeouts, resets, our own 502/503/504.
    public var transportFailures: UInt64 = 0
    /// Transport failures in a row right now (summed over workers).
    public var streak: UInt64 = 0
    /// Runs of `fastTripStreak` failures in a row seen inside the window.
    public var streakRuns: UInt64 = 0
    /// nil without requests.
    public var p95Microseconds: UInt64?

    public init(requests: UInt64 = 0, errors: UInt64 = 0, clientErrors: UInt64 = 0, transportFailures: UInt64 = 0,
                streak: UInt64 = 0, streakRuns: UInt64 = 0, p95Microseconds: UInt64? = nil) {
        self.requests = requests
        self.errors = errors
        self.clientErrors = clientErrors
        self.transportFailures = transportFailures
        self.streak = streak
        self.streakRuns = streakRuns
        self.p95Microseconds = p95Microseconds
    }

    public var errorRatio: Double { requests == 0 ? 0 : Double(errors) / Double(requests) }
    public var clientErrorRatio: Double { requests == 0 ? 0 : Double(clientErrors) / Double(requests) }

    /// Two servers' windows as one side (the p95 of a sum cannot be read from two p95s:
    /// the larger is kept, which errs towards tripping).
    public static func + (a: SideWindow, b: SideWindow) -> SideWindow {
        SideWindow(requests: a.requests + b.requests, errors: a.errors + b.errors, clientErrors: a.clientErrors + b.clientErrors,
                   transportFailures: a.transportFailures + b.transportFailures, streak: a.streak + b.streak,
                   streakRuns: a.streakRuns + b.streakRuns,
                   p95Microseconds: [a.p95Microseconds, b.p95Microseconds].compactMap { $0 }.max())
    }
}

extension SideWindow {
    /// A window read back from outside (the state file) with a count past 2^53 (JSON is not
    /// exact there), or with more errors (or 401/403/404s) than requests — each is an answer
    /// to one of them, and the ratio of such a window is past 100 % —, or nil. Transport
    /// failures are counted per connect attempt, under the backend first chosen, so they can
    /// outnumber requests.
    public var rangeProblem: String? {
        let limit: UInt64 = 1 << 53
        let counts = [requests, errors, clientErrors, transportFailures, streak, streakRuns, p95Microseconds ?? 0]
        if counts.contains(where: { $0 > limit }) { return "a window count past 2^53" }
        if errors > requests || clientErrors > requests { return "more errors than requests in a window" }
        return nil
    }
}
