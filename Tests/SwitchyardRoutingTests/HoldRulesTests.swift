import Foundation
import Testing
@testable import SwitchyardRouting

/// The write hold in the routing layer: `hold methods`/`hold except` in the routes file,
/// the hold as runtime state (saved, reconciled, compiled), and the no-allocation check.
@Suite struct HoldRulesTests {
    static let file = twoBackends + """
        route app {
            active legacy standby cloud
            hold methods POST PUT
            hold except /login /auth/
        }
        route plain {
            path /plain
            backend legacy
        }
        """

    @Test func readsMethodsAndExceptions() throws {
        let config = try parse(Self.file)
        #expect(config.routes[0].hold == HoldRules(methods: ["POST", "PUT"], exceptions: ["/login", "/auth/"]))
        #expect(config.routes[1].hold == HoldRules(), "the default: POST PUT PATCH DELETE, no exception")
    }

    @Test func badHoldLinesPointAtTheirToken() {
        let cases: [(String, Int, Int, String)] = [
            ("    hold methods post\n", 10, 18, "bad method \"post\""),
            ("    hold methods GET\n", 10, 18, "GET is a read"),
            ("    hold except login\n", 10, 17, "path prefixes starting with '/'"),
            ("    hold forever now\n", 10, 10, "unknown hold setting \"forever\""),
            ("    hold methods\n", 10, 5, "hold"),
        ]
        for (line, row, column, fragment) in cases {
            let text = twoBackends + "route app {\n    backend legacy\n" + line + "}\n"
            let errors = collectErrors(text)
            #expect(errors.contains { $0.line == row && $0.column == column && $0.message.contains(fragment) },
                    "\(line): \(errors)")
        }
        let tcp = twoBackends + "route tds {\n    mode tcp\n    listen 127.0.0.1:0\n    backend legacy\n    hold except /x\n}\n"
        #expect(collectErrors(tcp).contains { $0.line == 12 && $0.message.contains("hold applies to http routes only") })
    }

    @Test func theHoldIsSavedReconciledAndCompiled() throws {
        var state = RuntimeState()
        state.routes["app"] = RouteRuntime(hold: HoldState(since: 1_000, maxWaitSeconds: 45, reason: "CHG-1"))
        let data = try JSONEncoder().encode(state)
        let decoded = try JSONDecoder().decode(RuntimeState.self, from: data)
        #expect(decoded == state)
        // A state file written before holds existed still loads.
        let old = try JSONDecoder().decode(RuntimeState.self, from: Data(#"{"routes":{"app":{"active":"cloud"}}}"#.utf8))
        #expect(old.routes["app"]?.hold == nil)

        let t = try table(Self.file, state: state)
        let app = t.routes[t.routeIndex(named: "app")!]
        #expect(app.hold?.state.maxWaitSeconds == 45)
        #expect(app.hold?.refuseAfterSeconds == 1_600)
        #expect(t.routes[t.routeIndex(named: "plain")!].hold == nil)
        let held = app.hold!
        func holds(_ method: String, _ path: String) -> Bool {
            Array(method.utf8).withUnsafeBytes { m in Array(path.utf8).withUnsafeBytes { p in held.holds(method: m, path: p) } }
        }
        #expect(holds("POST", "/notes"))
        #expect(holds("PUT", "/notes/1"))
        #expect(!holds("DELETE", "/notes/1"), "not in this route's method set")
        #expect(!holds("GET", "/notes"))
        #expect(!holds("POST", "/login"), "an exception")
        #expect(!holds("POST", "/auth/token"))
        #expect(holds("POST", "/loginx"), "exceptions match whole segments")

        let other = try table(Self.file)
        #expect(t.describeChanges(from: other) == ["app held (writes: POST PUT; max-wait 45s)"])
        #expect(other.describeChanges(from: t) == ["app released"])
    }

    @Test func aHoldOnARouteThatBecameTCPIsDroppedWithAWarning() throws {
        var state = RuntimeState()
        state.routes["tds"] = RouteRuntime(hold: HoldState(since: 1, maxWaitSeconds: 60))
        let config = try parse(twoBackends + "route tds {\n    mode tcp\n    listen 127.0.0.1:0\n    backend legacy\n}\n")
        let (reconciled, warnings) = state.reconciled(with: config)
        #expect(reconciled.routes["tds"] == nil)
        #expect(warnings == ["state: route \"tds\" is now mode tcp; its write hold was dropped"])
    }

    private func collectErrors(_ text: String) -> [RoutesError] {
        do {
            _ = try RoutesConfig.parse(text, file: "bad.routes")
            return []
        } catch {
            return error.errors
        }
    }

    @Test func holdLimitsAreReadFromLimitLines() throws {
        let config = try parse("limit hold-parked 10\nlimit hold-per-connection 5\nlimit hold-bytes 1m\nlimit hold-body 64k\n" + twoBackends
                               + "route app {\n    backend legacy\n}\n")
        #expect(config.tuning.holdParked == 10)
        #expect(config.tuning.holdPerConnection == 5)
        #expect(config.tuning.holdBytes == 1 << 20)
        #expect(config.tuning.holdBody == 64 << 10)
        let bad = "limit hold-parked many\n" + twoBackends + "route app {\n    backend legacy\n}\n"
        let errors: [RoutesError] = collectErrors(bad)
        #expect(errors.contains { $0.line == 1 && $0.column == 19 }, "\(errors)")
    }

    /// A size the parser reads but no machine holds: refused at its word. Before, the
    /// per-worker share's rounding overflowed on the first status read (a crash).
    @Test func holdBytesBeyondATebibyteAreRefusedAtTheirWord() throws {
        for line in ["limit hold-bytes 18446744073709551615", "limit hold-body 1025g"] {
            let errors = collectErrors(line + "\n" + twoBackends + "route app {\n    backend legacy\n}\n")
            let column = line.split(separator: " ").prefix(2).joined(separator: " ").count + 2   // the size's word
            #expect(errors.contains { $0.line == 1 && $0.column == column && $0.message.contains("at most 1024g") }, "\(line): \(errors)")
        }
        #expect(try parse("limit hold-bytes 1024g\n" + twoBackends + "route app {\n    backend legacy\n}\n").tuning.holdBytes == 1 << 40)
    }
}
