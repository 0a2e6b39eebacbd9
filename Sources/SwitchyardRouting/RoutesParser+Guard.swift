extension RoutesParser {
    /// The `guard` lines of every route, checked against the finished routes and backends:
    /// each problem at the word at fault.
    mutating func checkGuards(_ config: RoutesConfig) -> [GuardConfig] {
        var guards: [GuardConfig] = []
        let backends = config.backends.map(\.name)
        for draft in routes where !draft.name.text.isEmpty {
            var names: [String: Int] = [:]
            for tokens in draft.guardLines {
                let words = tokens.dropFirst().map(\.text)
                let parsed: GuardConfig
                switch GuardConfig.parse(words, route: draft.name.text, line: tokens[0].line) {
                case .success(let config): parsed = config
                case .failure(let problem):
                    error(problem.word + 1 < tokens.count ? tokens[problem.word + 1] : tokens[0], problem.message)
                    continue
                }
                if draft.mode == .tcp {
                    error(tokens[0], "guards are for http routes (route \(draft.name.text) is mode tcp: its answers cannot be judged)")
                    continue
                }
                var bad = false
                for index in [4, 6] where !backends.contains(tokens[index].text) {
                    error(tokens[index], "unknown backend \"\(tokens[index].text)\" (known: \(backends.joined(separator: ", ")))")
                    bad = true
                }
                if let first = names[parsed.name] {
                    error(tokens[1], "duplicate guard \"\(parsed.name)\" in route \(draft.name.text) (first on line \(first))")
                    bad = true
                }
                names[parsed.name] = tokens[0].line
                if !bad { guards.append(parsed) }
            }
        }
        return guards
    }
}

extension RoutesParser {
    /// The `plan` blocks, checked against the finished routes, backends and guards.
    mutating func checkPlans(_ config: RoutesConfig) -> [PlanConfig] {
        var reader = PlanReader()
        var result: [PlanConfig] = []
        var seen: [String: Int] = [:]
        for block in plans {
            guard let plan = reader.read(block, config: config, guards: config.guards) else { continue }
            if let first = seen[plan.name] {
                reader.problems.append((block.header[1], "duplicate plan \"\(plan.name)\" (first on line \(first))"))
                continue
            }
            seen[plan.name] = plan.line
            result.append(plan)
        }
        for (token, message) in reader.problems { error(token, message) }
        return result
    }
}
