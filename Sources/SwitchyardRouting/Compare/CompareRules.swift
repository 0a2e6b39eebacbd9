/// A route's `compare …` lines: what the mirror comparison ignores or adds, and when its
/// verdict says "ready". Read by the comparer (SwitchyardCompare) on the admin side; the
/// data plane never looks at it.
public struct CompareRules: Sendable, Equatable {
    /// Headers compared when the route says nothing (lower case).
    public static let defaultHeaders = ["content-type", "location", "cache-control", "content-encoding"]
    /// Headers never compared unless a `compare header` line names them (documentation: the
    /// default set does not include them anyway; listed so `compare` output can say so).
    public static let defaultIgnoredHeaders = ["date", "server", "set-cookie", "etag", "x-request-id"]
    public static let defaultReadyPairs = 1_000
    public static let defaultReadySeconds = 3_600

    /// `compare ignore json PATH`: subtrees left out of the structural comparison.
    public var ignoredJSON: [JSONPathPattern] = []
    /// `compare ignore header NAME` (lower case): removed from the compared set.
    public var ignoredHeaders: [String] = []
    /// `compare header NAME` (lower case): added to the compared set.
    public var extraHeaders: [String] = []
    /// `compare ready N pairs DURATION`: the verdict's minimum pairs and time span.
    public var readyPairs: Int = CompareRules.defaultReadyPairs
    public var readySeconds: Int = CompareRules.defaultReadySeconds

    public init(ignoredJSON: [JSONPathPattern] = [], ignoredHeaders: [String] = [], extraHeaders: [String] = [],
                readyPairs: Int = CompareRules.defaultReadyPairs, readySeconds: Int = CompareRules.defaultReadySeconds) {
        self.ignoredJSON = ignoredJSON
        self.ignoredHeaders = ignoredHeaders
        self.extraHeaders = extraHeaders
        self.readyPairs = readyPairs
        self.readySeconds = readySeconds
    }

    /// The header names compared on this route, lower case, in a stable order.
    public var comparedHeaders: [String] {
        var names = Self.defaultHeaders
        for name in extraHeaders where !names.contains(name) { names.append(name) }
        return names.filter { !ignoredHeaders.contains($0) }
    }
}
