import Foundation
import Testing
@testable import SwitchyardRouting

/// The mirror in the routing layer: `mirror …` lines and `sandbox` in the routes file, the
/// runtime setting (saved, reconciled, compiled over the file's), the share by bucket.
@Suite struct MirrorRulesTests {
    static let file = """
        listen http 127.0.0.1:0
        backend legacy {
            server 192.0.2.1:80
        }
        backend cloud {
            server 192.0.2.2:80
            sandbox
        }
        route app {
            backend legacy
            mirror cloud 5%
            mirror methods GET HEAD
            mirror noise 2.5%
            mirror in-flight 32
            mirror rate 50/s
        }
        route plain {
            path /plain
            backend legacy
        }
        """

    @Test func readsMirrorLinesAndSandbox() throws {
        let config = try parse(Self.file)
        #expect(config.backends[1].sandbox && !config.backends[0].sandbox)
        #expect(config.routes[0].mirror == MirrorRules(backend: "cloud", basisPoints: 500, methods: ["GET", "HEAD"],
                                                       noiseBasisPoints: 250, inFlight: 32, ratePerSecond: 50))
        #expect(config.routes[1].mirror == nil)
        let t = try table(Self.file)
        let mirror = try #require(t.routes[0].mirror)
        #expect(mirror.backend == "cloud" && mirror.basisPoints == 500 && mirror.sandbox)
        #expect(mirror.covers(bucket: 0) && mirror.covers(bucket: 499) && !mirror.covers(bucket: 500) && !mirror.covers(bucket: -1))
        func allows(_ method: String) -> Bool { Array(method.utf8).withUnsafeBytes { mirror.allows(method: $0) } }
        #expect(allows("GET") && allows("HEAD") && !allows("OPTIONS") && !allows("POST"))
        #expect(t.routes[1].mirror == nil)
        let defaults = try parse(twoBackends + "route app {\n    backend legacy\n    mirror cloud 10%\n}\n").routes[0].mirror
        #expect(defaults == MirrorRules(backend: "cloud", basisPoints: 1_000), "GET HEAD OPTIONS, 1% noise, 64 in flight, 200/s")
    }

    @Test func badMirrorLinesPointAtTheirToken() {
        let cases: [(String, Int, Int, String)] = [
            ("    mirror shadow 5%\n", 10, 12, "unknown mirror backend \"shadow\""),
            ("    mirror cloud 120%\n", 10, 18, "over 100%"),
            ("    mirror cloud five\n", 10, 18, "bad percentage"),
            ("    mirror methods get\n", 10, 20, "bad method \"get\""),
            // Writes are copied only to a `sandbox` target: before, `mirror methods GET
            // POST` sent every POST a second time to a real system.
            ("    mirror methods GET POST\n", 10, 24, "mirror methods takes reads only (GET, HEAD, OPTIONS, TRACE): a copy of POST goes only to a backend marked `sandbox`"),
            ("    mirror noise 1\n", 10, 18, "bad percentage"),
            ("    mirror in-flight 0\n", 10, 22, "bad in-flight bound"),
            ("    mirror rate 200\n", 10, 17, "bad rate"),
            ("    mirror\n", 10, 5, "missing argument for mirror"),
            ("    mirror cloud 5% now\n", 10, 21, "unexpected argument"),
        ]
        for (line, row, column, fragment) in cases {
            let text = twoBackends + "route app {\n    backend legacy\n" + line + "}\n"
            let errors = collectErrors(text)
            #expect(errors.contains { $0.line == row && $0.column == column && $0.message.contains(fragment) }, "\(line): \(errors)")
        }
        let settingsOnly = try? parse(twoBackends + "route app {\n    backend legacy\n    mirror noise 5%\n}\n")
        #expect(settingsOnly?.routes[0].mirror == MirrorRules(noiseBasisPoints: 500), "rules for a target named at run time")
        let twice = twoBackends + "route app {\n    backend legacy\n    mirror cloud 5%\n    mirror legacy 5%\n}\n"
        #expect(collectErrors(twice).contains { $0.line == 11 && $0.message.contains("one target per route") })
        let tcp = twoBackends + "route tds {\n    mode tcp\n    listen 127.0.0.1:0\n    backend legacy\n    mirror cloud 5%\n}\n"
        #expect(collectErrors(tcp).contains { $0.line == 12 && $0.message.contains("mirror applies to http routes only") })
        let sandboxArgument = "listen http 127.0.0.1:0\nbackend cloud {\n    server 192.0.2.2:80\n    sandbox yes\n}\nroute app {\n    backend cloud\n}\n"
        #expect(collectErrors(sandboxArgument).contains { $0.line == 4 && $0.column == 13 })
    }

    @Test func theRuntimeSettingIsSavedReconciledAndCompiledOverTheFile() throws {
        var state = RuntimeState()
        state.routes["plain"] = RouteRuntime(mirror: MirrorSetting(backend: "cloud", basisPoints: 10_000))
        state.routes["app"] = RouteRuntime(mirror: .off)
        let decoded = try JSONDecoder().decode(RuntimeState.self, from: try JSONEncoder().encode(state))
        #expect(decoded == state)
        let old = try JSONDecoder().decode(RuntimeState.self, from: Data(#"{"routes":{"app":{"active":"cloud"}}}"#.utf8))
        #expect(old.routes["app"]?.mirror == nil, "a state file from before mirrors still loads")

        let t = try table(Self.file, state: state)
        #expect(t.routes[0].mirror == nil, "off at run time beats the file's mirror")
        let plain = try #require(t.routes[1].mirror)
        #expect(plain.backend == "cloud" && plain.basisPoints == 10_000)
        #expect(plain.rules.methods == MirrorRules.defaultMethods, "a route without mirror lines takes the defaults")
        let file = try table(Self.file)
        #expect(t.describeChanges(from: file) == ["app mirror cloud 5.00% → off", "plain mirror off → cloud 100.00%"])

        // A target the edited file no longer has: dropped with a warning, the file's mirror used.
        var gone = RuntimeState()
        gone.routes["app"] = RouteRuntime(mirror: MirrorSetting(backend: "shadow", basisPoints: 100))
        let (reconciled, warnings) = gone.reconciled(with: try parse(Self.file))
        #expect(reconciled.routes["app"] == nil)
        #expect(warnings.count == 1 && warnings[0].contains("mirror target \"shadow\""))
    }

    @Test func theMirrorBucketIsTheUsersEvenWithoutASplit() throws {
        let t = try table(twoBackends + "route app {\n    backend legacy\n    sticky header X-User\n    mirror cloud 50%\n}\n")
        let decision = try #require(t.route(FakeRequest(headers: [("X-User", "nurse-1")]), random: 1))
        #expect(decision.bucket == -1, "no split: routing needs no bucket")
        let bucket = t.mirrorBucket(decision, FakeRequest(headers: [("X-User", "nurse-1")]))
        #expect(bucket >= 0 && bucket < 10_000)
        #expect(t.mirrorBucket(decision, FakeRequest(headers: [("X-User", "nurse-1")])) == bucket, "stable for the user")
        #expect(Array("nurse-1".utf8).withUnsafeBytes { StickyBucket.of($0) } == bucket, "the same bucket a split would use")
        let split = try table(twoBackends + "route app {\n    split legacy 50% cloud 50%\n    sticky header X-User\n    mirror cloud 50%\n}\n")
        let splitDecision = try #require(split.route(FakeRequest(headers: [("X-User", "nurse-1")]), random: 1))
        #expect(split.mirrorBucket(splitDecision, FakeRequest(headers: [("X-User", "nurse-1")])) == splitDecision.bucket)
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
