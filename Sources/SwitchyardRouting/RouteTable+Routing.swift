extension RouteTable {
    /// HTTP routing. Does not allocate, and costs the same whatever the number of routes
    /// (`RouteIndex`).
    ///
    /// Route selection: a route naming the request's host (exact, case-insensitive, port and
    /// trailing dot ignored) beats any-host routes; among those that match, the longest path
    /// prefix wins (prefix rule: `ByteMatch.pathMatches`); ties go to the first in the file.
    /// A route bound to named listeners (`listen NAME...`) matches only requests that came
    /// through one of them. Within the route: cohorts in order, first match pins the
    /// backend; then the split by the request's bucket; else the active side.
    ///
    /// `random` is used only to mint a new sticky cookie, so tests pass fixed values.
    /// Returns nil when no http route matches (the proxy answers 404).
    public func route<R: RoutableRequest>(_ request: borrowing R, random: UInt64) -> RouteDecision? {
        let path = request.path
        let index = httpIndex.lookup(host: ByteMatch.hostWithoutPort(request.host), path: path, listener: request.listener)
        guard index >= 0 else { return nil }
        return decide(routes[index], index: index, request, path: path, random: random)
    }

    /// The selection rule above as a plain scan in rule order: what `route` must choose,
    /// kept as the reference `RouteIndexTests` compares the index with.
    func routeByScan<R: RoutableRequest>(_ request: borrowing R, random: UInt64) -> RouteDecision? {
        let host = ByteMatch.hostWithoutPort(request.host)
        let path = request.path
        let httpOrder = self.httpOrder
        var position = 0
        while position < httpOrder.count {
            let index = httpOrder[position]
            position += 1
            let route = routes[index]
            let mask = listenerMasks[index]
            if mask != 0 {
                let listener = request.listener
                if listener < 0 || listener >= 64 || mask & (1 << UInt64(listener)) == 0 { continue }
            }
            if !route.hostKeys.isEmpty {
                var hostMatches = false
                var k = 0
                while k < route.hostKeys.count && !hostMatches {
                    hostMatches = ByteMatch.equalsIgnoringCase(host, route.hostKeys[k].bytes)
                    k += 1
                }
                if !hostMatches { continue }
            }
            if let prefix = route.pathKey, !ByteMatch.pathMatches(path, prefix: prefix.bytes) { continue }
            return decide(route, index: index, request, path: path, random: random)
        }
        return nil
    }

    /// TCP routing for the tcp route at `routeIndex`, decided once per connection: client
    /// cohorts, then the split by client address, else the active side. Does not allocate.
    public func routeTCP(routeIndex: Int, client: ClientAddress, random: UInt64) -> RouteDecision {
        let route = routes[routeIndex]
        precondition(route.mode == .tcp, "routeTCP called for http route \"\(route.name)\"")
        var k = 0
        while k < route.cohortMatchers.count {
            if case .client(let cidr, let backend) = route.cohortMatchers[k], cidr.contains(client) {
                return RouteDecision(route: routeIndex, backend: backend, bucket: -1, reason: .cohort)
            }
            k += 1
        }
        if !route.splitEnds.isEmpty {
            let bucket = StickyBucket.ofClient(client)
            return RouteDecision(route: routeIndex, backend: route.splitBackend(forBucket: bucket), bucket: bucket, reason: .split)
        }
        return activeDecision(route, index: routeIndex)
    }

    private func decide<R: RoutableRequest>(_ route: CompiledRoute, index: Int, _ request: borrowing R,
                                            path: UnsafeRawBufferPointer, random: UInt64) -> RouteDecision {
        var k = 0
        while k < route.cohortMatchers.count {
            if let pinned = cohortPin(route.cohortMatchers[k], request, path: path) {
                return RouteDecision(route: index, backend: pinned, bucket: -1, reason: .cohort)
            }
            k += 1
        }
        guard !route.splitEnds.isEmpty else { return activeDecision(route, index: index) }

        var bucket: Int
        var issueCookie = false
        var cookieValue: UInt64 = 0
        switch route.sticky {
        case .cookie:
            // No closure around `route`: capturing it cost a retain and a release on every
            // request, split or not (callgrind).
            if let header = request.cookieHeader, let sent = route.stickyCookie(in: header) {
                bucket = StickyBucket.of(sent)
            } else {
                issueCookie = true
                cookieValue = random
                bucket = StickyBucket.ofCookieValue(random)
            }
        case .header:
            if let sent = request.headerValue(lowercasedName: route.stickyName!.bytes).map(ByteMatch.trimmed), sent.count > 0 {
                bucket = StickyBucket.of(sent)
            } else {
                // No key to be sticky on: the client address is the next most stable thing.
                bucket = StickyBucket.ofClient(request.clientAddress)
            }
        case .client:
            bucket = StickyBucket.ofClient(request.clientAddress)
        }
        return RouteDecision(route: index, backend: route.splitBackend(forBucket: bucket), bucket: bucket,
                             reason: .split, issueCookie: issueCookie, cookieValue: cookieValue)
    }

    /// The backend `cohort` pins `request` to, or nil when it does not match. Shared by the
    /// routing decision and the decision log's replay keys (`RouteTable+Replay`).
    @inline(__always)
    func cohortPin<R: RoutableRequest>(_ cohort: CompiledRoute.CompiledCohort, _ request: borrowing R,
                                       path: UnsafeRawBufferPointer) -> Int? {
        switch cohort {
        case .header(let name, let value, let backend):
            let sent = request.headerValue(lowercasedName: name.bytes)
            return sent.map { ByteMatch.equals(ByteMatch.trimmed($0), value.bytes) } == true ? backend : nil
        case .cookie(let name, let value, let backend):
            let header = request.cookieHeader
            let sent = header.flatMap { ByteMatch.cookie(name.bytes, in: $0) }
            return sent.map { ByteMatch.equals($0, value.bytes) } == true ? backend : nil
        case .client(let cidr, let backend):
            return cidr.contains(request.clientAddress) ? backend : nil
        case .path(let prefix, let backend):
            return ByteMatch.pathMatches(path, prefix: prefix.bytes) ? backend : nil
        }
    }

    @inline(__always)
    private func activeDecision(_ route: CompiledRoute, index: Int) -> RouteDecision {
        // build() refuses a route with neither a split nor an active side.
        guard let active = route.activeIndex else { preconditionFailure("route \"\(route.name)\" has no active backend") }
        return RouteDecision(route: index, backend: active, bucket: -1, reason: .active)
    }
}
