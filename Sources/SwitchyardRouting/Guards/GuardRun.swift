/// One guard's life between checks: how many red checks in a row, the last verdict, and
/// the latch. A state machine without I/O: the admin side feeds it a verdict a second and
/// carries out the action it returns.
public struct GuardRun: Sendable, Equatable, Codable {
    /// Red checks in a row so far (reset by green and by insufficient data).
    public private(set) var redInARow = 0
    /// Set at the trip, kept (and persisted) until a person acknowledges it.
    public private(set) var trip: GuardTrip?
    /// The last check's word and figures (not persisted).
    public private(set) var lastWord = "insufficient data"
    public private(set) var lastFigures = "not checked yet"

    public init() {}

    public init(trip: GuardTrip?) { self.trip = trip }

    public var tripped: Bool { trip != nil }

    /// What the owner must do after a check.
    public enum Action: Sendable, Equatable {
        case none
        /// Trip now: carry out the guard's mode, audit `figures`.
        case trip(figures: String)
    }

    /// A check's verdict. A latched guard keeps its verdicts for show but never trips again.
    public mutating func checked(_ verdict: GuardVerdict, checks: Int, at time: String) -> Action {
        lastWord = verdict.word
        lastFigures = verdict.figures
        switch verdict {
        case .insufficient, .green:
            redInARow = 0
            return .none
        case .red(let figures):
            redInARow += 1
            guard trip == nil, redInARow >= checks else { return .none }
            let text = "\(figures) (\(redInARow) checks in a row)"
            trip = GuardTrip(time: time, figures: text)
            return .trip(figures: text)
        case .fastTrip(let figures):
            redInARow += 1
            guard trip == nil else { return .none }
            trip = GuardTrip(time: time, figures: figures)
            return .trip(figures: figures)
        }
    }

    /// `guard ROUTE ack`: the latch opens; the guard starts counting afresh.
    public mutating func acknowledged() {
        trip = nil
        redInARow = 0
    }

    private enum CodingKeys: String, CodingKey { case trip }
}

/// When a guard tripped and on what figures.
public struct GuardTrip: Sendable, Equatable, Codable {
    public var time: String
    public var figures: String
    /// A revert guard's revert could not be committed and is retried: kept in the state
    /// file, so that a restart or an upgrade retries it too (nil in older files, and once
    /// the revert is in force).
    public var revertPending: Bool?
    /// In a fleet: the store revision at which the trip's latch was in the store (written
    /// by this instance, or read there when the trip was made on another). nil: not shared
    /// yet, retried. A read after this revision without the latch means it was acknowledged
    /// on another instance. nil in older files and outside a fleet.
    public var fleetRevision: Int64?
    public init(time: String, figures: String) {
        self.time = time
        self.figures = figures
    }
}
