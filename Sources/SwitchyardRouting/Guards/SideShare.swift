/// How much of a route a side receives under a runtime state, and which generation a
/// revert guard goes back to. Pure: used by the guards, freeze and plans.
extension RouteConfig {
    /// The side's share of the route's split in basis points (a blue-green route: 10000
    /// when it is active, else 0), plus 1 when a cohort pins users to it while its share
    /// is 0 — so that any traffic counts as "gaining".
    /// Whether going from `old` to `new` raises the side's share (what a latched guard
    /// refuses).
    public func raises(_ backend: String, from old: RouteRuntime?, to new: RouteRuntime?) -> Bool {
        share(of: backend, under: new) > share(of: backend, under: old)
    }

    public func share(of backend: String, under runtime: RouteRuntime?) -> Int {
        let split = runtime?.split ?? self.split
        var points: Int
        if split.isEmpty {
            points = (runtime?.active ?? active) == backend ? 10_000 : 0
        } else {
            points = split.first { $0.backend == backend }?.basisPoints ?? 0
        }
        let removed = runtime?.removedCohorts ?? []
        let cohorts = self.cohorts.filter { !removed.contains($0) } + (runtime?.extraCohorts ?? [])
        if points == 0 && cohorts.contains(where: { $0.backend == backend }) { points = 1 }
        return points
    }
}

public enum RevertTarget {
    /// The runtime of `route` to restore: walking back from the newest generation while
    /// the new side's share keeps falling (or stays), the oldest of that run — the state
    /// before the new side gained traffic. `generations` oldest first, the current last.
    /// nil when the new side never had less than now (nothing to revert to).
    public static func find(route: RouteConfig, newSide: String,
                            generations: [(generation: UInt64, state: RuntimeState)]) -> (generation: UInt64, runtime: RouteRuntime?)? {
        guard let current = generations.last else { return nil }
        var best: (generation: UInt64, runtime: RouteRuntime?)?
        var share = route.share(of: newSide, under: current.state.routes[route.name])
        for entry in generations.dropLast().reversed() {
            let runtime = entry.state.routes[route.name]
            let earlier = route.share(of: newSide, under: runtime)
            guard earlier <= share else { break }
            if earlier < share || best != nil { best = (entry.generation, runtime) }
            share = earlier
            if earlier == 0 { break }
        }
        return best
    }
}
