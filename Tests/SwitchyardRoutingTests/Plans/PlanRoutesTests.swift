import Testing
@testable import SwitchyardRouting

/// `plan NAME { … }` blocks in the routes file: read into `RoutesConfig.plans`, and every
/// bad one reported at file:line:col.
@Suite struct PlanRoutesTests {
    // twoBackends is 7 lines; the route takes lines 8-12, a plan opens on line 13.
    let base = twoBackends + """
        route app {
            split legacy 95% cloud 5%
            guard errs errors new cloud old legacy revert
            guard slow latency new cloud old legacy freeze
        }
        route db {
            mode tcp
            listen 127.0.0.1:0
            active legacy standby cloud
        }

        """

    @Test func readsAPlan() throws {
        let config = try RoutesConfig.parse(base + """
            plan ramp {
                route app
                guards errs
                approve by group ops
                cloud 5% for 10m
                cloud 25% for 30m
                flip
            }

            """, file: "p.routes")
        let plan = try #require(config.plans.first)
        #expect(plan.name == "ramp" && plan.route == "app" && plan.newSide == "cloud" && plan.oldSide == "legacy")
        #expect(plan.steps.map(\.basisPoints) == [500, 2_500, nil])
        #expect(plan.steps.map(\.holdMilliseconds) == [600_000, 1_800_000, nil])
        #expect(plan.approveGroup == "ops" && plan.guards == ["errs"])
        #expect(plan.gating(config.guards).map(\.name) == ["errs"])
    }

    func errors(_ plan: String) -> [RoutesError] {
        do {
            _ = try RoutesConfig.parse(base + plan, file: "bad.routes")
            return []
        } catch {
            return error.errors
        }
    }

    @Test(arguments: [
        ("plan p {\n    route nope\n    cloud 5% for 2s\n}\n", 19, 11, #"unknown route "nope""#),
        ("plan p {\n    route app\n    clod 5% for 2s\n}\n", 20, 5, #"unknown backend "clod""#),
        ("plan p {\n    route app\n    cloud 25% for 2s\n    cloud 5% for 2s\n}\n", 21, 11, "a ramp never lowers cloud: 5.00% after 25.00%"),
        ("plan p {\n    route db\n    cloud 5% for 2s\n}\n", 19, 11, "plans are for http routes"),
        ("plan p {\n    route app\n    cloud 500% for 2s\n}\n", 20, 11, "over 100%"),
        ("plan p {\n    route app\n    cloud 5%\n    cloud 10% for 1m\n}\n", 20, 5, "only the last step may have no `for DURATION`"),
        ("plan p {\n    route app\n    guards fast\n    cloud 5% for 2s\n}\n", 20, 12, #"route app has no guard "fast""#),
        ("plan p {\n    route app\n}\n", 18, 1, "has no step"),
        ("plan p {\n    route app\n    cloud 5% for 2s\n}\nplan p {\n    route app\n    cloud 5% for 2s\n}\n", 22, 6, #"duplicate plan "p""#),
    ])
    func badPlansAreReportedAtTheirWord(_ text: String, _ line: Int, _ column: Int, _ fragment: String) {
        let found = errors(text)
        #expect(found.contains { $0.line == line && $0.column == column && $0.message.contains(fragment) },
                "expected \(line):\(column) \(fragment), got \(found.map(\.description))")
    }
}
