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
            // A flip stores active and standby with an empty split. The side in force is
            // kept while it exists (dropping the whole override would move every user back);
            // a vanished standby is replaced by the file's other side. Only when the active
            // side itself is gone do the file's sides come back — dropping just that name left
            // no split and no active side, which does not build (reload refused, no start).
            if let active = runtime.active, !backends.contains(active) {
                warnings.append("state: route \"\(name)\": active backend \"\(active)\" no longer exists; the routes file's sides are used")
                runtime.active = nil
                runtime.standby = nil
                runtime.split = nil
            } else if let standby = runtime.standby, !backends.contains(standby) {
                let fileSides = [route.active, route.standby].compactMap { $0 } + route.split.map(\.backend)
                let replacement = runtime.active.flatMap { active in fileSides.first { $0 != active && backends.contains($0) } }
                warnings.append("state: route \"\(name)\": standby backend \"\(standby)\" no longer exists; "
                                + (replacement.map { "\"\($0)\" is the standby now" } ?? "no standby") + (runtime.active.map { " (\"\($0)\" stays active)" } ?? ""))
                runtime.standby = replacement
            }
            if let split = runtime.split, let gone = split.first(where: { !backends.contains($0.backend) }) {
                warnings.append("state: route \"\(name)\": split backend \"\(gone.backend)\" no longer exists; the file's split is used")
                runtime.split = nil
            }
            let removed = runtime.removedCohorts
            runtime.extraCohorts = runtime.extraCohorts.filter { cohort in
                if !backends.contains(cohort.backend) {
                    warnings.append("state: route \"\(name)\": cohort \(cohort) names a backend that no longer exists; dropped")
                    return false
                }
                if route.mode == .tcp, case .client = cohort.matcher {} else if route.mode == .tcp {
                    warnings.append("state: route \"\(name)\" is now mode tcp; cohort \(cohort) dropped (tcp routes take client cohorts only)")
                    return false
                }
                // The file now has a cohort for the same requests (not removed at run time):
                // it comes first and always wins, so the run-time one would pin nobody.
                if let file = route.cohorts.first(where: { $0.matcher.takesTheSameRequests(as: cohort.matcher) && !removed.contains($0) }) {
                    warnings.append("state: route \"\(name)\": run-time cohort \(cohort) dropped: the routes file's cohort \(file) takes the same requests and wins")
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
