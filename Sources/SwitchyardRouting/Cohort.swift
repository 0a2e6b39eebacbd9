/// What pins a request to a side before the split is consulted.
public enum CohortMatcher: Sendable, Equatable, Hashable, Codable {
    /// The first header named `name` (case-insensitive) has exactly this value.
    case header(name: String, value: String)
    /// The cookie named `name` (case-sensitive, as browsers send it) has exactly this value.
    case cookie(name: String, value: String)
    /// The client address is inside this network.
    case client(CIDR)
    /// The path starts with this prefix, by the same rule as a route's `path`.
    case path(prefix: String)
}

/// A cohort: requests that match go to `backend`. Cohorts are checked in order; the first
/// match wins.
public struct Cohort: Sendable, Equatable, Hashable, Codable {
    public var matcher: CohortMatcher
    public var backend: String

    public init(matcher: CohortMatcher, backend: String) {
        self.matcher = matcher
        self.backend = backend
    }
}

extension CohortMatcher: CustomStringConvertible {
    /// The matcher as written in a routes file after `cohort`, e.g. `header X-Staff-Group internal`.
    public var description: String {
        switch self {
        case .header(let name, let value): return "header \(name) \(value)"
        case .cookie(let name, let value): return "cookie \(name) \(value)"
        case .client(let cidr): return "client \(cidr)"
        case .path(let prefix): return "path \(prefix)"
        }
    }
}

extension CohortMatcher {
    /// Whether the two take exactly the same requests (a header's name in any case): of two
    /// such cohorts on a route the first always wins, and the second pins nobody.
    public func takesTheSameRequests(as other: CohortMatcher) -> Bool {
        switch (self, other) {
        case let (.header(a, x), .header(b, y)): return a.lowercased() == b.lowercased() && x == y
        default: return self == other
        }
    }
}

extension Cohort: CustomStringConvertible {
    /// As written in a routes file after `cohort`, e.g. `client 10.50.0.0/16 -> legacy`.
    public var description: String {
        "\(matcher) -> \(backend)"
    }
}
