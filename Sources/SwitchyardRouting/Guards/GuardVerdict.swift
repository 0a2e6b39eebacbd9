/// One check of a guard: what the windows say, with the figures that say it.
public enum GuardVerdict: Sendable, Equatable {
    /// Too little traffic to judge (never counts as green).
    case insufficient(String)
    case green(String)
    /// Worse than allowed on this check (a trip needs `checks` in a row).
    case red(String)
    /// Transport failures in a row: trips at once.
    case fastTrip(String)

    public var word: String {
        switch self {
        case .insufficient: return "insufficient data"
        case .green: return "green"
        case .red: return "red"
        case .fastTrip: return "fast trip"
        }
    }

    public var figures: String {
        switch self {
        case .insufficient(let f), .green(let f), .red(let f), .fastTrip(let f): return f
        }
    }

    public var isGreen: Bool { if case .green = self { return true } else { return false } }

    /// The same verdict with `note` after its figures.
    public func noting(_ note: String) -> GuardVerdict {
        switch self {
        case .insufficient(let f): return .insufficient(f + note)
        case .green(let f): return .green(f + note)
        case .red(let f): return .red(f + note)
        case .fastTrip(let f): return .fastTrip(f + note)
        }
    }
}

extension GuardConfig {
    /// Judges the windows of the new and the old side (pure arithmetic; the caller reads
    /// the windows over `windowSeconds`).
    public func check(new: SideWindow, old: SideWindow) -> GuardVerdict {
        // Not when the old side fails the same way in the window (a firewall or a name
        // server both sides share): moving users back would not help them; the ratio rule
        // below judges it instead (both failing is not the migration's fault).
        if kind == .errors && fastTrip, Self.failsInARow(new), !Self.failsInARow(old) {
            return .fastTrip("\(newSide) had \(GuardConfig.fastTripStreak) or more transport failures in a row (\(new.transportFailures) in \(windowSeconds)s, \(new.requests) requests); \(oldSide) \(old.transportFailures)")
        }
        guard new.requests >= UInt64(minRequests) else {
            return .insufficient("\(newSide) \(new.requests) requests in \(windowSeconds)s, needs \(minRequests)")
        }
        // Nothing to compare with: an old side without requests is not an old side at 0 %
        // (after a completed flip, the new side's ordinary error rate would trip a revert).
        // The owner passes the old side's last window with requests when it has one.
        guard old.requests > 0 else {
            return .insufficient("\(oldSide) has no requests in \(windowSeconds)s to compare \(newSide) with")
        }
        switch kind {
        case .errors:
            let n = new.errorRatio * 100, o = old.errorRatio * 100
            let figures = "\(newSide) \(new.errors)/\(new.requests) errors (\(Self.pct(n))), \(oldSide) \(old.errors)/\(old.requests) (\(Self.pct(o))) over \(windowSeconds)s; trips at ≥\(Self.format(points)) pt and ≥\(Self.format(times))×"
            // Both conditions: a new side no worse than the old one (both failing) is not
            // the migration's fault; a tiny absolute rise is noise.
            let worse = n - o >= points - 1e-9 && n >= times * o - 1e-9 && new.errors >= Self.minimumFailures
            return worse ? .red(figures) : .green(figures)
        case .clientErrors:
            let n = new.clientErrorRatio * 100, o = old.clientErrorRatio * 100
            let figures = "\(newSide) \(new.clientErrors)/\(new.requests) 401/403/404 (\(Self.pct(n))), \(oldSide) \(old.clientErrors)/\(old.requests) (\(Self.pct(o))) over \(windowSeconds)s; trips at ≥\(Self.format(points)) pt above"
            return n - o >= points - 1e-9 && new.clientErrors >= Self.minimumFailures ? .red(figures) : .green(figures)
        case .latency:
            guard let newP95 = new.p95Microseconds, let oldP95 = old.p95Microseconds else {
                return .insufficient("\(oldSide) has no requests in \(windowSeconds)s to compare \(newSide)'s p95 with")
            }
            let n = Double(newP95) / 1000, o = Double(oldP95) / 1000
            let figures = "\(newSide) p95 \(Self.ms(n)) over \(new.requests) requests, \(oldSide) p95 \(Self.ms(o)) over \(old.requests) in \(windowSeconds)s; trips at ≥\(Self.format(times))× and ≥\(aboveMilliseconds)ms above"
            let worse = n >= times * o - 1e-9 && n - o >= Double(aboveMilliseconds) - 1e-9
            return worse ? .red(figures) : .green(figures)
        }
    }

    /// Transport failures in a row that trip at once (the workers count runs of this many).
    public static let fastTripStreak: UInt64 = 10

    /// `fastTripStreak` transport failures in a row during the window (a run seen, or one
    /// going on), and that many failures in it.
    static func failsInARow(_ side: SideWindow) -> Bool {
        (side.streakRuns > 0 || side.streak >= fastTripStreak) && side.transportFailures >= fastTripStreak
    }

    /// Failed requests (or 401/403/404 answers) the new side must have in the window before
    /// a ratio can be red. At night, with the window's 50 requests, one 500 is 2 %: it stayed
    /// in the sliding window for all of its checks, and a single error reverted a cutover.
    public static let minimumFailures: UInt64 = 3

    static func pct(_ v: Double) -> String {
        // Clamped: a window read back from a state file is checked (`SideWindow.rangeProblem`),
        // but text is no reason to trap (Int(_:) of a Double past Int.max does).
        let hundredths = Int(((v.isNaN ? 0 : min(max(v, 0), 1e12)) * 100).rounded())
        let frac = hundredths % 100
        return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)%"
    }

    static func ms(_ v: Double) -> String { "\(Int(v.rounded()))ms" }
}
