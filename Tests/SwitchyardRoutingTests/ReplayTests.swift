import Testing
import SwitchyardTestSupport
@testable import SwitchyardRouting

/// `RouteTable.place` over recorded `ReplayKeys` answers what `route(_:random:)` answers for
/// the request itself — for every sticky kind, cohort kind, new visitors issued a cookie,
/// and for a second table with other shares and cohorts — so `simulate` replays the proxy's
/// own decision and nothing like it.
@Suite struct ReplayTests {
    static let routes = twoBackends + """
        route app {
            split legacy 70% cloud 30%
            sticky cookie SB
            cohort header X-Staff-Group internal -> cloud
            cohort client 198.51.100.0/24 -> legacy
            cohort path /reports/ -> legacy
            cohort cookie SIDE cloud -> cloud
        }
        route api {
            host api.example
            split legacy 50% cloud 50%
            sticky header X-User
        }
        route desk {
            host desk.example
            split legacy 80% cloud 20%
            sticky client
        }
        """

    struct Spec {
        var host: String
        var path: String
        var client: ClientAddress
        var headers: [(String, String)]
        var request: FakeRequest { FakeRequest(host: host, path: path, client: client, headers: headers) }
    }

    func requests(_ random: inout SplitMix64) -> [Spec] {
        (0..<3000).map { i in
            let client: ClientAddress = i % 11 == 0 ? .v4(0xC633_6400 | UInt32(i % 200)) : .v4(0x0A00_0000 | UInt32(random.next() & 0xFFFFFF))
            var headers: [(String, String)] = []
            if i % 3 != 0 { headers.append(("cookie", "theme=x; SB=\(hex16(random.next()))" + (i % 13 == 0 ? "; SIDE=cloud" : ""))) }
            if i % 7 == 0 { headers.append(("x-staff-group", "internal")) }
            if i % 5 == 0 { headers.append(("x-user", "u\(random.next() % 500)")) }
            let host = ["app.example", "api.example", "desk.example"][i % 3]
            return Spec(host: host, path: i % 17 == 0 ? "/reports/x" : "/chart", client: client, headers: headers)
        }
    }

    @Test func placingRecordedKeysAgreesWithRoutingTheRequest() throws {
        let current = try table(Self.routes)
        var state = RuntimeState()
        state.routes["app"] = RouteRuntime(split: [WeightedBackend(backend: "legacy", basisPoints: 4000), WeightedBackend(backend: "cloud", basisPoints: 6000)],
                                           removedCohorts: [Cohort(matcher: .header(name: "X-Staff-Group", value: "internal"), backend: "cloud")])
        state.routes["desk"] = RouteRuntime(split: [WeightedBackend(backend: "legacy", basisPoints: 1000), WeightedBackend(backend: "cloud", basisPoints: 9000)])
        let proposed = try table(Self.routes, state: state, generation: 2)
        var random = SplitMix64(seed: 18)
        var checked = 0
        for spec in requests(&random) {
            let request = spec.request
            let seed = random.next()
            let decision = try #require(current.route(request, random: seed))
            let keys = current.replayKeys(request, path: request.path, decision: decision)
            let network = request.clientAddress
            let placed = try #require(current.place(routeIndex: decision.route, keys: keys, network: network))
            #expect(placed.backend == decision.backend)
            #expect(placed.reason == decision.reason)
            // The same request (its cookie now sent back when one was issued) under the
            // proposed table goes where the replay says.
            var again = spec
            if decision.issueCookie { again.headers.append(("cookie", "SB=\(hex16(decision.cookieValue))")) }
            let real = try #require(proposed.route(again.request, random: 0))
            if let replayed = proposed.place(routeIndex: decision.route, keys: keys, network: network) {
                #expect(replayed.backend == real.backend, "request \(checked)")
            } else {
                // Pinned by a cohort the proposal removes, without a key: a new visitor then.
                #expect(keys.keyHash == 0 && real.issueCookie)
            }
            checked += 1
        }
        #expect(checked == 3000)
    }
}
