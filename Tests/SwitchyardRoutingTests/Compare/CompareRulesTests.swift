import Testing
@testable import SwitchyardRouting

/// `compare …` lines in a route block: read into `CompareRules`, bad ones pointed at.
@Suite struct CompareRulesTests {
    @Test func readsIgnorePathsHeadersAndTheReadyThreshold() throws {
        let config = try parse(twoBackends + """
            route app {
                backend legacy
                compare ignore json $.meta.requestId
                compare ignore json $.items[*].ts
                compare ignore header Cache-Control
                compare header X-Api-Version
                compare ready 500 pairs 30m
            }
            route plain {
                path /plain
                backend legacy
            }
            """)
        let rules = config.routes[0].compare
        #expect(rules.ignoredJSON.map(\.description) == ["$.meta.requestId", "$.items[*].ts"])
        #expect(rules.ignoredHeaders == ["cache-control"])
        #expect(rules.comparedHeaders == ["content-type", "location", "content-encoding", "x-api-version"])
        #expect(rules.readyPairs == 500)
        #expect(rules.readySeconds == 1800)
        #expect(config.routes[1].compare == CompareRules(), "defaults: 1,000 pairs over 1 h, the four headers")
        #expect(CompareRules().readyPairs == 1000 && CompareRules().readySeconds == 3600)
    }

    @Test func badCompareLinesPointAtTheirCharacter() {
        let cases: [(String, Int, Int, String)] = [
            ("    compare ignore json meta.x\n", 10, 25, "a JSON path starts with $"),
            ("    compare ignore json $.items[x]\n", 10, 33, "expected an index, * or a quoted name inside [ ]"),
            ("    compare ignore json $.a.\n", 10, 29, "expected a field name or * after '.'"),
            ("    compare ignore json $\n", 10, 25, "a path with no steps would ignore the whole body"),
            ("    compare header Bad:Name\n", 10, 20, "bad header name"),
            ("    compare ready 0 pairs 1h\n", 10, 19, "bad pair count"),
            ("    compare ready 10 pairs soon\n", 10, 28, "bad duration"),
            ("    compare everything\n", 10, 5, "bad compare line (usage: compare ignore json PATH"),
        ]
        for (line, row, column, fragment) in cases {
            let text = twoBackends + "route app {\n    backend legacy\n" + line + "}\n"
            let errors = collectErrors(text)
            #expect(errors.contains { $0.line == row && $0.column == column && $0.message.contains(fragment) }, "\(line): \(errors)")
        }
    }

    @Test func aPlanMayRequireTheCompareVerdict() throws {
        let plan = "plan ramp {\n    route app\n    require compare-ready\n    cloud 100%\n}\n"
        let config = try parse(twoBackends + "route app {\n    split legacy 100% cloud 0%\n}\n" + plan)
        #expect(config.plans.first?.requireCompareReady == true)
        let bad = twoBackends + "route app {\n    split legacy 100% cloud 0%\n}\n" + plan.replacingOccurrences(of: "compare-ready", with: "compare-now")
        #expect(collectErrors(bad).contains { $0.line == 13 && $0.column == 5 && $0.message.contains("usage: require compare-ready") }, "\(collectErrors(bad))")
    }

    private func collectErrors(_ text: String) -> [RoutesError] {
        do {
            _ = try RoutesConfig.parse(text, file: "bad.routes")
            return []
        } catch {
            return error.errors
        }
    }
}
