/// Runtime overrides that admin commands change and that survive restarts. The routes file
/// gives the structure; this gives what operators changed since. Codable: the admin layer
/// persists it as JSON.
public struct RuntimeState: Sendable, Equatable, Codable {
    /// By route name; a route that is absent behaves as in the routes file.
    public var routes: [String: RouteRuntime]

    public init() {
        routes = [:]
    }

    public init(routes: [String: RouteRuntime]) {
        self.routes = routes
    }
}

/// One route's overrides. Every field left at its default means "as in the routes file".
///
/// How the effective route is formed:
/// - split: `split ?? file split`. An empty array means "no split": the route then sends
///   everything (after cohorts) to its active side. This is how `flip` ends a split.
/// - active/standby: `active ?? file active`, `standby ?? file standby`; used when the
///   effective split is empty.
/// - cohorts: the file's cohorts, then `extraCohorts`, with every cohort equal to one in
///   `removedCohorts` left out.
///
/// Keep a split's backends in the same order across changes (the admin layer should edit
/// shares in place): a backend's buckets are a range that follows the ones before it, so
/// reordering moves users, while changing shares in place moves only the users that must move.
public struct RouteRuntime: Sendable, Equatable, Codable {
    public var active: String?
    public var standby: String?
    public var split: [WeightedBackend]?
    public var extraCohorts: [Cohort]
    public var removedCohorts: [Cohort]
    /// A write hold in force (nil: none).
    public var hold: HoldState?
    /// The mirror's target and share set over the admin socket (nil: as in the routes file).
    public var mirror: MirrorSetting?

    public init(active: String? = nil, standby: String? = nil, split: [WeightedBackend]? = nil,
                extraCohorts: [Cohort] = [], removedCohorts: [Cohort] = [], hold: HoldState? = nil,
                mirror: MirrorSetting? = nil) {
        self.active = active
        self.standby = standby
        self.split = split
        self.extraCohorts = extraCohorts
        self.removedCohorts = removedCohorts
        self.hold = hold
        self.mirror = mirror
    }

    /// True when nothing is overridden.
    public var isEmpty: Bool {
        active == nil && standby == nil && split == nil && extraCohorts.isEmpty && removedCohorts.isEmpty && hold == nil && mirror == nil
    }

    private enum CodingKeys: String, CodingKey {
        case active, standby, split, extraCohorts, removedCohorts, hold, mirror
    }

    // Written by hand so a state file that leaves out the empty lists still loads.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        active = try container.decodeIfPresent(String.self, forKey: .active)
        standby = try container.decodeIfPresent(String.self, forKey: .standby)
        split = try container.decodeIfPresent([WeightedBackend].self, forKey: .split)
        extraCohorts = try container.decodeIfPresent([Cohort].self, forKey: .extraCohorts) ?? []
        removedCohorts = try container.decodeIfPresent([Cohort].self, forKey: .removedCohorts) ?? []
        hold = try container.decodeIfPresent(HoldState.self, forKey: .hold)
        mirror = try container.decodeIfPresent(MirrorSetting.self, forKey: .mirror)
    }
}
