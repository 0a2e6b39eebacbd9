import Foundation
import Testing
import SwitchyardAdmin
import SwitchyardRouting
import SwitchyardTestSupport

/// `require compare-ready` in a plan: the plan does not start while the route's mirror
/// comparison is not ready, and starts once it is.
@Suite(.serialized) struct ComparePlanTests {
    static let routes = """
        listen http 127.0.0.1:0
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            split legacy 100% cloud 0%
            compare ignore json $.generatedAt
            compare ignore json $.meta.requestId
            compare ready 100 pairs 1m
        }
        plan ramp {
            route app
            require compare-ready
            cloud 5% for 1m
            cloud 100%
        }
        """

    @Test func aPlanThatRequiresTheVerdictStartsOnlyOnceTheRouteIsReady() throws {
        let h = try AdminHarness(routes: Self.routes)
        defer { h.stop() }
        let start = Date()
        // Agreeing pairs only (the planted rename sits on i % 100 < 3: left out).
        let agreeing = CompareSamples.planted(pairs: 200).filter { sample in
            guard sample.kind == .mirror, sample.path.hasPrefix("/patients/"),
                  let i = Int(sample.path.dropFirst("/patients/".count).prefix { $0.isNumber }) else { return false }
            return i % 100 >= 3
        }
        h.service.ingestMirrorSamples(Array(agreeing.prefix(5)), now: start)
        let refused = h.run("plan start ramp")
        #expect(!refused.ok, "\(refused.text)")
        #expect(refused.text.contains("route app's mirror comparison is not ready: 5 of 100 pairs; 0 s of 1 min"), "\(refused.text)")
        #expect(h.run("plan status ramp").text.contains("requires compare-ready: not ready: 5 of 100 pairs"))
        #expect(h.proxy.table.routes[0].split.first { $0.backend == "cloud" }?.basisPoints == 0, "nothing changed")

        // 100 more two minutes later: enough pairs over enough time, none differing.
        h.service.ingestMirrorSamples(Array(agreeing.dropFirst(5).prefix(100)), now: start.addingTimeInterval(120))
        let started = h.run("plan start ramp")
        #expect(started.ok, "\(started.text)")
        #expect(h.proxy.table.routes[0].split.first { $0.backend == "cloud" }?.basisPoints == 500)
    }
}
