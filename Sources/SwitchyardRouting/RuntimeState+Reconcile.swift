extension RuntimeState {
    /// Reconciles the state with a (possibly edited) routes file: overrides naming routes or
    /// backends that no longer exist are dropped, each with a one-line warning, so a reload
    /// or restart never fails because of a name the file removed.
    ///
    /// What remains may still be invalid (a split that does not sum to 100%); `RouteTable.build`
    /// reports that as an error.
    public func reconciled(with config: RoutesConfig) -> (RuntimeState, [String]) {
        var result = RuntimeState()
        var warnings: [String] = []
        let backends = Set(config.backends.map(\.name))
        for name in routes.keys.sorted() {
            var runtime = routes[name]!
            guard let route = config.routes.first(where: { $0.name == name }) else {
                warnings.append("state: route \"\(name)\" no longer exists; its runtime overrides were dropped")
                continue
            }
            // The sides (active, standby, split) are one override: a flip leaves active and
            // standby with an empty split, so dropping only the vanished name left a route
            // with no split and no active side (or standby equal to active), which does not
            // build: the reload was refused and the proxy would not start.
            let sides = [("active", runtime.active), ("standby", runtime.standby)].compactMap { role, name in name.map { (role, $0) } }
                + (runtime.split ?? []).map { ("split", $0.backend) }
            if let (role, gone) = sides.first(where: { !backends.contains($0.1) }) {
                warnings.append("state: route \"\(name)\": \(role) backend \"\(gone)\" no longer exists; the routes file's sides are used")
                runtime.active = nil
                runtime.standby = nil
                runtime.split = nil
            }
            runtime.extraCohorts = runtime.extraCohorts.filter { cohort in
                if !backends.contains(cohort.backend) {
                    warnings.append("state: route \"\(name)\": cohort \(cohort) names a backend that no longer exists; dropped")
                    return false
                }
                if route.mode == .tcp, case .client = cohort.matcher {} else if route.mode == .tcp {
                    warnings.append("state: route \"\(name)\" is now mode tcp; cohort \(cohort) dropped (tcp routes take client cohorts only)")
                    return false
                }
                return true
            }
            runtime.removedCohorts = runtime.removedCohorts.filter { cohort in
                if route.cohorts.contains(cohort) { return true }
                warnings.append("state: route \"\(name)\": removed cohort \(cohort) is no longer in the routes file; forgotten")
                return false
            }
            if runtime.hold != nil && route.mode == .tcp {
                warnings.append("state: route \"\(name)\" is now mode tcp; its write hold was dropped")
                runtime.hold = nil
            }
            if let target = runtime.mirror?.backend, !backends.contains(target) || route.mode == .tcp {
                warnings.append("state: route \"\(name)\": mirror target \"\(target)\" no longer exists or the route is mode tcp; the file's mirror is used")
                runtime.mirror = nil
            }
            if !runtime.isEmpty { result.routes[name] = runtime }
        }
        return (result, warnings)
    }
}
