/// What the decision log keeps of one routed request: enough to place it again with another
/// table (`RouteTable.place`), nothing of the request itself (no path, no header value).
public struct ReplayKeys: Sendable, Equatable {
    /// FNV-1a (64-bit) of the sticky key as the route reads it — the cookie, the header, the
    /// client address, or the cookie the proxy issued with this answer; its value modulo
    /// 10,000 is the user's bucket. 0: none (a cohort pinned a visitor without a cookie).
    public var keyHash: UInt64
    /// Identities (`RouteTable.cohortIdentity`) of the first two cohort rules of the route
    /// that matched the request, 0 for none. Kept by identity, not position, so a proposed
    /// table that adds, removes or reorders cohorts still finds them.
    public var cohortA: UInt32
    public var cohortB: UInt32

    /// How many buckets `keyHash` is taken modulo: a stored record may replace the hash
    /// with any value that keeps its residue (see the admin side's `DecisionPseudonym`).
    public static let bucketCount: UInt64 = StickyBucket.count

    public init(keyHash: UInt64 = 0, cohortA: UInt32 = 0, cohortB: UInt32 = 0) {
        self.keyHash = keyHash
        self.cohortA = cohortA
        self.cohortB = cohortB
    }
}

/// Where a replayed request goes: the backend (index into the table's backends), why, and
/// for a cohort the index of the rule in the route's `cohorts`.
public struct Placement: Sendable, Equatable {
    public var backend: Int
    public var reason: RouteDecision.Reason
    public var cohort: Int
}

extension RouteTable {
    /// The replay keys of a request `route(_:random:)` just placed with `decision`. Uses the
    /// same key extraction and cohort matching as the routing decision. Does not allocate.
    public func replayKeys<R: RoutableRequest>(_ request: borrowing R, path: UnsafeRawBufferPointer,
                                               decision: RouteDecision) -> ReplayKeys {
        var keys = ReplayKeys()
        guard decision.route >= 0 && decision.route < routes.count else { return keys }
        let route = routes[decision.route]
        var k = 0
        while k < route.cohortMatchers.count && keys.cohortB == 0 {
            if cohortPin(route.cohortMatchers[k], request, path: path) != nil {
                let identity = Self.cohortIdentity(route.cohortMatchers[k])
                if keys.cohortA == 0 { keys.cohortA = identity } else { keys.cohortB = identity }
            }
            k += 1
        }
        switch route.sticky {
        case .cookie:
            let header = request.cookieHeader
            if let header, let sent = route.stickyCookie(in: header) {
                keys.keyHash = StickyBucket.hash(sent)
            } else if decision.issueCookie {
                keys.keyHash = StickyBucket.hashOfCookieValue(decision.cookieValue)
            }
        case .header:
            if let name = route.stickyName,
               let sent = request.headerValue(lowercasedName: name.bytes).map(ByteMatch.trimmed), sent.count > 0 {
                keys.keyHash = StickyBucket.hash(sent)
            } else {
                keys.keyHash = StickyBucket.hashOfClient(request.clientAddress)
            }
        case .client:
            keys.keyHash = StickyBucket.hashOfClient(request.clientAddress)
        }
        return keys
    }

    /// Where this table sends a request recorded with `keys` from `network` (the client's
    /// /24 or /64) on the route named `routeIndex`: the cohorts in this table's order (a
    /// recorded match by identity; a `client` cohort as wide as the recorded network or wider
    /// is checked against it, so a new one is known too), then the split by the recorded
    /// key's bucket — the same `splitBackend(forBucket:)` the proxy uses —, else the active
    /// side. nil: the split decides and no key was recorded (a new visitor, placed at random).
    public func place(routeIndex: Int, keys: ReplayKeys, network: ClientAddress) -> Placement? {
        let route = routes[routeIndex]
        let networkBits: Int
        switch network.unmapped {
        case .v4: networkBits = 24
        case .v6: networkBits = 64
        case .unix: networkBits = -1
        }
        var k = 0
        while k < route.cohortMatchers.count {
            let cohort = route.cohortMatchers[k]
            let backend: Int
            switch cohort {
            case .header(_, _, let b), .cookie(_, _, let b), .path(_, let b): backend = b
            case .client(let cidr, let b):
                backend = b
                if networkBits >= 0 && cidr.prefixLength <= networkBits {
                    if cidr.contains(network) { return Placement(backend: b, reason: .cohort, cohort: k) }
                    k += 1
                    continue
                }
            }
            let identity = Self.cohortIdentity(cohort)
            if identity == keys.cohortA || identity == keys.cohortB { return Placement(backend: backend, reason: .cohort, cohort: k) }
            k += 1
        }
        if route.splitEnds.isEmpty {
            guard let active = route.activeIndex else { return nil }
            return Placement(backend: active, reason: .active, cohort: -1)
        }
        guard keys.keyHash != 0 else { return nil }
        return Placement(backend: route.splitBackend(forBucket: Int(keys.keyHash % StickyBucket.count)), reason: .split, cohort: -1)
    }

    /// A cohort rule's identity: FNV-1a of its kind and match values (not its backend), never
    /// 0. Two tables' rules with the same words have the same identity. Does not allocate.
    static func cohortIdentity(_ cohort: CompiledRoute.CompiledCohort) -> UInt32 {
        // Static helpers with `inout`, not nested functions: a captured variable may be boxed
        // on the heap in debug builds, and this runs per request.
        var hash = StickyBucket.offsetBasis
        switch cohort {
        case .header(let name, let value, _): mixWord(&hash, 1); mixBytes(&hash, name.bytes); mixBytes(&hash, value.bytes)
        case .cookie(let name, let value, _): mixWord(&hash, 2); mixBytes(&hash, name.bytes); mixBytes(&hash, value.bytes)
        case .path(let prefix, _): mixWord(&hash, 4); mixBytes(&hash, prefix.bytes)
        case .client(let cidr, _):
            mixWord(&hash, 3)
            mixWord(&hash, UInt64(cidr.prefixLength))
            switch cidr.network {
            case .v4(let a): mixWord(&hash, UInt64(a))
            case .v6(let high, let low): mixWord(&hash, high); mixWord(&hash, low)
            }
        }
        let folded = UInt32(truncatingIfNeeded: hash ^ (hash >> 32))
        return folded == 0 ? 1 : folded
    }

    private static func mixBytes(_ hash: inout UInt64, _ bytes: UnsafeRawBufferPointer) {
        var i = 0
        while i < bytes.count { hash = StickyBucket.mix(hash, bytes[i]); i += 1 }
        hash = StickyBucket.mix(hash, 0)
    }

    private static func mixWord(_ hash: inout UInt64, _ value: UInt64) {
        var shift: UInt64 = 0
        while shift < 64 { hash = StickyBucket.mix(hash, UInt8(truncatingIfNeeded: value >> shift)); shift += 8 }
    }

    /// The identity of the route's `index`-th cohort (for reports naming cohort rules).
    public func cohortIdentity(routeIndex: Int, cohort index: Int) -> UInt32 {
        Self.cohortIdentity(routes[routeIndex].cohortMatchers[index])
    }
}
