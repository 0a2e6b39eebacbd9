/// One step of a plan: a share for the new side (`cloud 25% for 30m`) or `flip`, held for a
/// while before the next (nil: the last step, the plan completes once it is applied).
public struct PlanStep: Sendable, Equatable, Codable {
    /// The new side's share in basis points; nil for `flip`.
    public var basisPoints: Int?
    public var holdMilliseconds: Int?
    /// The step as written, for status and the audit.
    public var text: String

    public init(basisPoints: Int?, holdMilliseconds: Int?, text: String) {
        self.basisPoints = basisPoints
        self.holdMilliseconds = holdMilliseconds
        self.text = text
    }
}

/// A pre-authorised ramp of one route: its steps, the guards that gate it, and optionally a
/// second person who must approve it. From a `plan NAME { … }` block of the routes file or
/// a file given to `plan load`.
public struct PlanConfig: Sendable, Equatable, Codable {
    public var name: String
    public var route: String
    /// The side the steps raise, and the side it takes from.
    public var newSide: String
    public var oldSide: String
    public var steps: [PlanStep]
    /// Guard names of the route that gate each step; empty: every guard of the route.
    public var guards: [String]
    /// `approve by group G`: a member of G with another uid than the starter must approve.
    public var approveGroup: String?
    /// Where it was written (0: loaded at run time).
    public var line: Int
    /// `require compare-ready`: the plan starts (and is approved) only while its route's
    /// mirror comparison says "ready". Optional so that plans saved before it still load.
    public var requireCompareReady: Bool?

    public init(name: String, route: String, newSide: String, oldSide: String, steps: [PlanStep], guards: [String] = [],
                approveGroup: String? = nil, line: Int = 0) {
        self.name = name
        self.route = route
        self.newSide = newSide
        self.oldSide = oldSide
        self.steps = steps
        self.guards = guards
        self.approveGroup = approveGroup
        self.line = line
    }

    /// The guards that gate this plan, among `all`.
    public func gating(_ all: [GuardConfig]) -> [GuardConfig] {
        all.filter { $0.route == route && (guards.isEmpty || guards.contains($0.name)) }
    }
}

extension PlanConfig {
    /// The plans of a file given to `plan load` (plan blocks alone), checked against the
    /// routes and guards in force; every problem as `file:line:col: message`.
    public static func load(_ text: String, file: String, config: RoutesConfig, guards: [GuardConfig]) -> Result<[PlanConfig], RoutesErrors> {
        PlanReader.load(text, file: file, config: config, guards: guards)
    }
}
