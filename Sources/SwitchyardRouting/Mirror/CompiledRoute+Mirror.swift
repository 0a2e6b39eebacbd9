extension CompiledRoute {
    /// The mirror in force: the runtime setting's target and share over the file's, with the
    /// file's methods, noise share and bounds (defaults when the file has no `mirror` line).
    /// nil when no target is set, mirroring is off, or the share is 0%.
    static func compileMirror(_ config: RouteConfig, runtime: RouteRuntime?, problems: inout [String],
                              backendIndex: (String) -> Int?, isSandbox: (Int) -> Bool) -> CompiledMirror? {
        let rules = config.mirror ?? MirrorRules()
        let target: String?
        let basisPoints: Int
        if let setting = runtime?.mirror {
            target = setting.backend
            basisPoints = setting.basisPoints
        } else {
            target = rules.backend
            basisPoints = rules.basisPoints
        }
        guard let target else { return nil }
        if config.mode == .tcp {
            problems.append("a tcp route cannot be mirrored (a mirror copies http requests)")
            return nil
        }
        guard (0...10_000).contains(basisPoints) else {
            problems.append("mirror share \(basisPoints) is outside 0…10000 basis points")
            return nil
        }
        guard let index = backendIndex(target) else {
            problems.append("mirror backend \"\(target)\" does not exist")
            return nil
        }
        guard basisPoints > 0 else { return nil }
        return CompiledMirror(rules: rules, backend: target, backendIndex: index, basisPoints: basisPoints,
                              sandbox: isSandbox(index))
    }
}

extension RouteTable {
    /// `charting mirror off → cloud 5.00%`, `charting mirror cloud 5.00% → off`.
    static func mirrorChanges(of new: CompiledRoute, from old: CompiledRoute) -> [String] {
        func describe(_ mirror: CompiledMirror?) -> String {
            guard let mirror else { return "off" }
            return "\(mirror.backend) \(formatBasisPoints(mirror.basisPoints))"
        }
        let before = describe(old.mirror), after = describe(new.mirror)
        return before == after ? [] : ["\(new.name) mirror \(before) → \(after)"]
    }

    /// The bucket a request's mirror share is decided by: the routing decision's when the
    /// split used one, else the route's sticky key (the cookie when sent, the header, or the
    /// client address) — so a user's whole session is mirrored or none of it, whether or not
    /// the route is split. Does not allocate.
    public func mirrorBucket<R: RoutableRequest>(_ decision: RouteDecision, _ request: borrowing R) -> Int {
        if decision.bucket >= 0 { return decision.bucket }
        let route = routes[decision.route]
        switch route.sticky {
        case .cookie:
            if let header = request.cookieHeader, let sent = route.stickyCookie(in: header) {
                return StickyBucket.of(sent)
            }
        case .header:
            if let sent = request.headerValue(lowercasedName: route.stickyName!.bytes).map(ByteMatch.trimmed), sent.count > 0 {
                return StickyBucket.of(sent)
            }
        case .client:
            break
        }
        return StickyBucket.ofClient(request.clientAddress)
    }
}
