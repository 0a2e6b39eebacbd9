import Testing
@testable import SwitchyardRouting

/// `guard` lines in a route: read into `RoutesConfig.guards`, and every bad one reported at
/// the word at fault.
@Suite struct GuardRoutesTests {
    func route(_ lines: String, mode: String = "") -> String {
        // twoBackends is 7 lines: the route opens on line 8, its first line is line 9.
        twoBackends + "route app {\n\(mode.isEmpty ? "" : "    mode tcp\n    listen 127.0.0.1:0\n")    split legacy 95% cloud 5%\n\(lines)}\n"
    }

    @Test func readsGuardsWithDefaultsAndOptions() throws {
        let config = try RoutesConfig.parse(route("""
                guard errs errors new cloud old legacy revert
                guard slow latency new cloud old legacy freeze above 200ms window 20s
                guard login client-errors new cloud old legacy

            """), file: "g.routes")
        #expect(config.guards.count == 3)
        #expect(config.guards[0].mode == .revert && config.guards[0].minRequests == 50 && config.guards[0].line == 10)
        #expect(config.guards[1].aboveMilliseconds == 200 && config.guards[1].windowSeconds == 20 && config.guards[1].mode == .freeze)
        #expect(config.guards[2].mode == .observe && config.guards[2].points == 5)
    }

    func errors(_ text: String) -> [RoutesError] {
        do {
            _ = try RoutesConfig.parse(text, file: "bad.routes")
            return []
        } catch {
            return error.errors
        }
    }

    @Test(arguments: [
        ("guard e errors new clod old legacy revert\n", 10, 24, #"unknown backend "clod""#),
        ("guard e errors new cloud old legcy\n", 10, 34, #"unknown backend "legcy""#),
        ("guard e errors new cloud old legacy revert points 0\n", 10, 55, "points must be 0.1…100"),
        ("guard e errors new cloud old legacy revert window 900s\n", 10, 55, "window must be 1s…300s"),
        ("guard e errors new cloud old legacy revert above 10ms\n", 10, 48, #"unknown guard option "above" for errors"#),
        ("guard e speed new cloud old legacy\n", 10, 13, #"unknown guard kind "speed""#),
        ("guard e errors new cloud old cloud\n", 10, 34, "the new and the old side must differ"),
        ("guard e errors new cloud\n", 10, 5, "missing arguments"),
        ("guard e errors new cloud old legacy\n    guard e latency new cloud old legacy\n", 11, 11, #"duplicate guard "e""#),
    ])
    func badGuardsAreReportedAtTheirWord(_ line: String, _ row: Int, _ column: Int, _ fragment: String) {
        let found = errors(route("    " + line))
        #expect(found.contains { $0.line == row && $0.column == column && $0.message.contains(fragment) },
                "expected \(row):\(column) \(fragment), got \(found.map(\.description))")
    }

    @Test func aGuardOnATCPRouteIsRefused() {
        let found = errors(twoBackends + "route db {\n    mode tcp\n    listen 127.0.0.1:0\n    active legacy\n    guard e errors new cloud old legacy\n}\n")
        #expect(found.contains { $0.line == 12 && $0.column == 5 && $0.message.contains("guards are for http routes") }, "\(found.map(\.description))")
    }
}
