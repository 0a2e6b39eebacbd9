extension RouteTable {
    /// What differs between `old` and this table, one human line each, in route order:
    /// `charting cloud 5.00% → 10.00%`, `auth active legacy → cloud`,
    /// `charting cohort added: header X-Staff-Group nurses -> cloud`, `route tds added`.
    /// Empty when nothing that routing depends on changed.
    public func describeChanges(from old: RouteTable) -> [String] {
        var lines: [String] = []
        let oldBackends = Set(old.backends.map(\.name)), newBackends = Set(backends.map(\.name))
        for backend in backends where !oldBackends.contains(backend.name) { lines.append("backend \(backend.name) added") }
        for backend in old.backends where !newBackends.contains(backend.name) { lines.append("backend \(backend.name) removed") }
        for backend in backends {
            if let before = old.backends.first(where: { $0.name == backend.name }), before != backend {
                lines.append("backend \(backend.name) servers or health check changed")
            }
        }
        for route in routes {
            guard let before = old.routes.first(where: { $0.name == route.name }) else {
                lines.append("route \(route.name) added")
                continue
            }
            lines += Self.changes(of: route, from: before)
        }
        for route in old.routes where routeIndex(named: route.name) == nil {
            lines.append("route \(route.name) removed")
        }
        return lines
    }

    private static func changes(of new: CompiledRoute, from old: CompiledRoute) -> [String] {
        let name = new.name
        var lines: [String] = []
        switch (old.split.isEmpty, new.split.isEmpty) {
        case (false, false):
            var names = new.split.map(\.backend)
            names += old.split.map(\.backend).filter { !names.contains($0) }
            for backend in names {
                let before = old.split.first { $0.backend == backend }?.basisPoints ?? 0
                let after = new.split.first { $0.backend == backend }?.basisPoints ?? 0
                if before != after {
                    lines.append("\(name) \(backend) \(formatBasisPoints(before)) → \(formatBasisPoints(after))")
                }
            }
            if lines.isEmpty && old.split.map(\.backend) != new.split.map(\.backend) {
                lines.append("\(name) split order \(describe(old.split)) → \(describe(new.split))")
            }
        case (false, true):
            lines.append("\(name) split \(describe(old.split)) → active \(new.active ?? "none")")
        case (true, false):
            lines.append("\(name) active \(old.active ?? "none") → split \(describe(new.split))")
        case (true, true):
            if old.active != new.active {
                lines.append("\(name) active \(old.active ?? "none") → \(new.active ?? "none")")
            }
        }
        if old.standby != new.standby {
            lines.append("\(name) standby \(old.standby ?? "none") → \(new.standby ?? "none")")
        }
        for cohort in new.cohorts where !old.cohorts.contains(cohort) {
            lines.append("\(name) cohort added: \(cohort)")
        }
        for cohort in old.cohorts where !new.cohorts.contains(cohort) {
            lines.append("\(name) cohort removed: \(cohort)")
        }
        lines += holdChanges(of: new, from: old)
        lines += mirrorChanges(of: new, from: old)
        if old.config.hosts != new.config.hosts || old.config.pathPrefix != new.config.pathPrefix
            || old.config.mode != new.config.mode || old.config.listen != new.config.listen
            || old.config.sticky != new.config.sticky || old.config.maxBodyBytes != new.config.maxBodyBytes
            || old.config.hold != new.config.hold || old.config.mirror != new.config.mirror {
            lines.append("\(name) matching or options changed in the routes file")
        }
        return lines
    }

    private static func describe(_ split: [WeightedBackend]) -> String {
        split.map { "\($0.backend) \(formatBasisPoints($0.basisPoints))" }.joined(separator: " ")
    }
}
