/// A route as the table applies it: the routes file's `RouteConfig` with the runtime state
/// folded in, names resolved to backend indices, and the bytes the request path compares
/// prepared once.
public final class CompiledRoute: Sendable {
    public let name: String
    public let mode: RouteMode
    /// Lower-cased; empty means any host.
    public let hosts: [String]
    public let pathPrefix: String?
    public let listen: Endpoint?
    /// The effective active side; meaningful when `split` is empty.
    public let active: String?
    public let activeIndex: Int?
    public let standby: String?
    public let standbyIndex: Int?
    /// The effective split, in bucket order; empty when the route sends everything to `active`.
    public let split: [WeightedBackend]
    /// The effective cohorts, in the order they are checked.
    public let cohorts: [Cohort]
    public let sticky: StickyKey
    public let maxBodyBytes: UInt64?
    /// `config.certificate != nil`, asked on every request (`RouteTable.admission`).
    let hasOwnCertificate: Bool
    /// The write hold in force (nil: none): runtime state, flipped with everything else.
    public let hold: CompiledHold?
    /// The mirror in force (nil: none, off, or a 0% share): runtime state over the file.
    public let mirror: CompiledMirror?
    /// The route as written in the routes file.
    public let config: RouteConfig

    // The request path's view of the above.
    let hostKeys: [ByteString]
    let pathKey: ByteString?
    let cohortMatchers: [CompiledCohort]
    let splitBackends: [Int]
    /// Exclusive end bucket of each split entry: entry k owns [end[k-1], end[k]).
    let splitEnds: [Int]
    /// Lower-cased header name, or the cookie name as sent; nil for `sticky client`.
    let stickyName: ByteString?
    /// `sticky cookie NAME`: `NAME-legacy`, the fallback cookie issued beside it over TLS
    /// (`HeadWriter.appendLegacyCookie`) and read when NAME is not sent.
    let stickyLegacyName: ByteString?

    enum CompiledCohort: Sendable {
        case header(name: ByteString, value: ByteString, backend: Int)
        case cookie(name: ByteString, value: ByteString, backend: Int)
        case client(CIDR, backend: Int)
        case path(prefix: ByteString, backend: Int)
    }

    /// Folds `runtime` into `config`. Returns the problems instead when the result would be
    /// unusable (a split not summing to 100%, an unknown backend, no side at all).
    static func compile(_ config: RouteConfig, runtime: RouteRuntime?, backendIndex: (String) -> Int?,
                        isSandbox: (Int) -> Bool = { _ in false }) -> Result<CompiledRoute, RouteProblems> {
        var problems: [String] = []
        func index(_ name: String, _ role: String) -> Int {
            if let i = backendIndex(name) { return i }
            problems.append("\(role) backend \"\(name)\" does not exist")
            return -1
        }
        let split = runtime?.split ?? config.split
        let active = runtime?.active ?? config.active
        let standby = runtime?.standby ?? config.standby

        var splitBackends: [Int] = []
        var splitEnds: [Int] = []
        var total = 0
        var seen: Set<String> = []
        for entry in split {
            if !seen.insert(entry.backend).inserted { problems.append("backend \"\(entry.backend)\" appears twice in the split") }
            if !(0...10000).contains(entry.basisPoints) { problems.append("share \(entry.basisPoints) of \"\(entry.backend)\" is outside 0…10000 basis points") }
            // Clamped: a share past the range is already a problem, and must not overflow the sum.
            total += min(max(entry.basisPoints, -1), 10_001)
            splitBackends.append(index(entry.backend, "split"))
            splitEnds.append(total)
        }
        if !split.isEmpty && total != 10000 {
            problems.append("split sums to \(formatBasisPoints(total)), must be exactly 100%")
        }
        let activeIndex = active.map { index($0, "active") }
        let standbyIndex = standby.map { index($0, "standby") }
        if split.isEmpty && active == nil {
            problems.append("has neither a split nor an active backend")
        }
        if let active, active == standby {
            problems.append("standby is the same backend as active (\"\(active)\")")
        }

        let removed = runtime?.removedCohorts ?? []
        let cohorts = (config.cohorts + (runtime?.extraCohorts ?? [])).filter { !removed.contains($0) }
        var matchers: [CompiledCohort] = []
        for cohort in cohorts {
            let backend = index(cohort.backend, "cohort")
            switch cohort.matcher {
            case .header(let name, let value):
                matchers.append(.header(name: ByteString(name, lowercased: true), value: ByteString(value), backend: backend))
            case .cookie(let name, let value):
                matchers.append(.cookie(name: ByteString(name), value: ByteString(value), backend: backend))
            case .client(let cidr):
                matchers.append(.client(cidr, backend: backend))
            case .path(let prefix):
                matchers.append(.path(prefix: ByteString(prefix), backend: backend))
            }
            if config.mode == .tcp, case .client = cohort.matcher {} else if config.mode == .tcp {
                problems.append("cohort \(cohort) cannot apply to a tcp route (client cohorts only)")
            }
        }
        if config.mode == .tcp && runtime?.hold != nil {
            problems.append("a tcp route cannot be held (a write hold parks http requests)")
        }
        let mirror = compileMirror(config, runtime: runtime, problems: &problems, backendIndex: backendIndex, isSandbox: isSandbox)
        guard problems.isEmpty else { return .failure(RouteProblems(messages: problems)) }

        let stickyName: ByteString?
        var stickyLegacyName: ByteString?
        switch config.sticky {
        case .cookie(let name):
            stickyName = ByteString(name)
            stickyLegacyName = ByteString(name + Self.legacyCookieSuffix)
        case .header(let name): stickyName = ByteString(name, lowercased: true)
        case .client: stickyName = nil
        }
        return .success(CompiledRoute(
            config: config, active: active, activeIndex: activeIndex, standby: standby, standbyIndex: standbyIndex,
            split: split, cohorts: cohorts, cohortMatchers: matchers, splitBackends: splitBackends,
            splitEnds: splitEnds, stickyName: stickyName, stickyLegacyName: stickyLegacyName,
            hold: runtime?.hold.map { CompiledHold(rules: config.hold, state: $0) }, mirror: mirror))
    }

    private init(config: RouteConfig, active: String?, activeIndex: Int?, standby: String?, standbyIndex: Int?,
                 split: [WeightedBackend], cohorts: [Cohort], cohortMatchers: [CompiledCohort],
                 splitBackends: [Int], splitEnds: [Int], stickyName: ByteString?, stickyLegacyName: ByteString?,
                 hold: CompiledHold?, mirror: CompiledMirror?) {
        self.name = config.name
        self.mode = config.mode
        self.hosts = config.hosts
        self.pathPrefix = config.pathPrefix
        self.listen = config.listen
        self.active = active
        self.activeIndex = activeIndex
        self.standby = standby
        self.standbyIndex = standbyIndex
        self.split = split
        self.cohorts = cohorts
        self.sticky = config.sticky
        self.maxBodyBytes = config.maxBodyBytes
        self.hasOwnCertificate = config.certificate != nil
        self.config = config
        self.hostKeys = config.hosts.map { ByteString($0, lowercased: true) }
        self.pathKey = config.pathPrefix.map { ByteString($0) }
        self.cohortMatchers = cohortMatchers
        self.splitBackends = splitBackends
        self.splitEnds = splitEnds
        self.stickyName = stickyName
        self.stickyLegacyName = stickyLegacyName
        self.hold = hold
        self.mirror = mirror
    }

    /// The split entry owning `bucket`. Only called when `split` is non-empty.
    @inline(__always)
    func splitBackend(forBucket bucket: Int) -> Int {
        var k = 0
        while k < splitEnds.count {
            if bucket < splitEnds[k] { return splitBackends[k] }
            k += 1
        }
        preconditionFailure("split ends at \(splitEnds.last ?? 0), bucket \(bucket) not covered")
    }
}

/// Why a route could not be compiled; turned into `RoutesError`s by `RouteTable.build`.
struct RouteProblems: Error {
    var messages: [String]
}

extension CompiledRoute {
    /// The backends this route can send a request to: its active side or every split share
    /// above 0, and its cohorts' backends.
    public var backendsInUse: Set<String> {
        var used = Set<String>()
        if split.isEmpty {
            if let active { used.insert(active) }
        } else {
            for share in split where share.basisPoints > 0 { used.insert(share.backend) }
        }
        for cohort in cohorts { used.insert(cohort.backend) }
        return used
    }
}

extension CompiledRoute {
    /// The fallback cookie's name is the sticky cookie's with this after it.
    public static let legacyCookieSuffix = "-legacy"

    /// The sticky cookie's value as `header` (the request's Cookie field) sends it: the
    /// cookie itself, else its `-legacy` fallback (a browser that refuses or mistreats
    /// `SameSite=None` sends only that one); nil when neither is there or both are empty.
    /// Does not allocate.
    /// Inlined: called, it made `route(_:random:)` own its route for the whole call, a
    /// retain and a release on every request, split or not (callgrind).
    @inline(__always)
    func stickyCookie(in header: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        if let name = stickyName, let sent = ByteMatch.cookie(name.bytes, in: header), sent.count > 0 { return sent }
        if let legacy = stickyLegacyName, let sent = ByteMatch.cookie(legacy.bytes, in: header), sent.count > 0 { return sent }
        return nil
    }
}
