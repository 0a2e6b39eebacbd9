import Testing
import SwitchyardTestSupport
@testable import SwitchyardRouting

private func splitRoute(_ legacy: Int, _ cloud: Int, sticky: String = "sticky cookie SWITCHYARD_BUCKET") -> String {
    twoBackends + "route app {\n split legacy \(formatBasisPoints(legacy)) cloud \(formatBasisPoints(cloud))\n \(sticky)\n}\n"
}

/// The same config with the split set through the runtime state, as the admin layer does it.
private func tableWithCloudShare(_ cloud: Int, generation: UInt64) throws -> RouteTable {
    var state = RuntimeState()
    state.routes["app"] = RouteRuntime(split: [WeightedBackend(backend: "legacy", basisPoints: 10000 - cloud),
                                              WeightedBackend(backend: "cloud", basisPoints: cloud)])
    return try table(splitRoute(5000, 5000), state: state, generation: generation)
}

/// The README's definition, written out independently of the product: FNV-1a (64-bit) over
/// the cookie text, modulo 10000; legacy owns buckets 0..<legacy share, cloud the rest.
private func expectedSide(cloudShare: Int, cookie: UInt64) -> Int {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in hex16(cookie).utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    return Int(hash % 10_000) < 10_000 - cloudShare ? 0 : 1
}

private func side(_ table: RouteTable, cookie: UInt64) -> Int {
    table.route(FakeRequest(headers: [("Cookie", "SWITCHYARD_BUCKET=\(hex16(cookie))")]), random: 0)!.backend
}

@Suite("Weighted split and stickiness")
struct SplitTests {
    @Test func fivePercentOfOneHundredThousandUsers() throws {
        let t = try table(splitRoute(9500, 500))
        let seed = testSeed(42)
        var rng = SplitMix64(seed: seed)
        var cloud = 0
        let users = 100_000
        for _ in 0..<users where side(t, cookie: rng.next()) == 1 { cloud += 1 }
        let share = Double(cloud) / Double(users)
        #expect(abs(share - 0.05) <= 0.003, "cloud got \(share) (seed \(seed))")
    }

    @Test func newUsersGetCookiesThatSplitAccuratelyToo() throws {
        let t = try table(splitRoute(9500, 500))
        let seed = testSeed(7)
        var rng = SplitMix64(seed: seed)
        var cloud = 0
        for _ in 0..<100_000 {
            let d = t.route(FakeRequest(), random: rng.next())!
            #expect(d.issueCookie, "seed \(seed)")
            if d.backend == 1 { cloud += 1 }
        }
        #expect(abs(Double(cloud) / 100_000 - 0.05) <= 0.003, "cloud got \(cloud) of 100000 (seed \(seed))")
    }

    @Test func bucketRangesFollowSplitOrder() throws {
        let t = try table(splitRoute(9000, 1000))
        let seed = testSeed(1)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<2000 {
            let d = t.route(FakeRequest(headers: [("Cookie", "SWITCHYARD_BUCKET=\(hex16(rng.next()))")]), random: 0)!
            #expect((0..<10000).contains(d.bucket) && d.reason == .split, "seed \(seed)")
            #expect(d.backend == (d.bucket < 9000 ? 0 : 1), "bucket \(d.bucket) (seed \(seed))")
        }
    }

    @Test func raisingAShareOnlyMovesUsersTowardIt() throws {
        let seed = testSeed(2024)
        var rng = SplitMix64(seed: seed)
        let users = (0..<500).map { _ in rng.next() }
        for _ in 0..<20 {
            // A random walk of cloud shares, up and down, as operators might type them.
            var share = Int(rng.next() % 10001)
            var previous = try tableWithCloudShare(share, generation: 0)
            var before = users.map { side(previous, cookie: $0) }
            for step in 1...25 {
                let next = Int(rng.next() % 10001)
                let current = try tableWithCloudShare(next, generation: UInt64(step))
                let after = users.map { side(current, cookie: $0) }
                for (b, a) in zip(before, after) where b != a {
                    // Anyone who moved, moved toward the side whose share grew.
                    #expect(next > share ? (b == 0 && a == 1) : (b == 1 && a == 0),
                            "share \(share) → \(next) moved a user \(b) → \(a) (seed \(seed))")
                }
                previous = current
                before = after
                share = next
            }
            _ = previous
        }
    }

    @Test func atFixedWeightsNoUserEverMoves() throws {
        let seed = testSeed(99)
        var rng = SplitMix64(seed: seed)
        let users = (0..<300).map { _ in rng.next() }
        for _ in 0..<10 {
            let share = Int(rng.next() % 10001)
            // Every user is where the bucket definition puts them, whatever the generation
            // (rebuilt tables, as after unrelated changes, move nobody).
            let expected = users.map { expectedSide(cloudShare: share, cookie: $0) }
            for generation in 1...5 {
                let table = try tableWithCloudShare(share, generation: UInt64(generation))
                #expect(users.map { side(table, cookie: $0) } == expected, "cloud share \(share), generation \(generation), seed \(seed)")
            }
        }
    }

    @Test func missingCookieIssuesOneDerivedFromRandom() throws {
        let t = try table(splitRoute(5000, 5000))
        let random: UInt64 = 0x0123_4567_89AB_CDEF
        let first = try #require(t.route(FakeRequest(headers: [("Cookie", "other=1")]), random: random))
        #expect(first.issueCookie && first.cookieValue == random && first.reason == .split)
        // The proxy writes the value as 16 lower-case hex digits.
        var text = [UInt8](repeating: 0, count: 16)
        text.withUnsafeMutableBytes { _ = first.writeCookieValue(into: $0) }
        #expect(String(decoding: text, as: UTF8.self) == "0123456789abcdef")
        // When that cookie comes back, the user lands in the same bucket and gets no new cookie.
        let back = try #require(t.route(FakeRequest(headers: [("Cookie", "other=1; SWITCHYARD_BUCKET=0123456789abcdef")]), random: 77))
        #expect(back.bucket == first.bucket && back.backend == first.backend)
        #expect(!back.issueCookie && back.cookieValue == 0)
    }

    @Test func emptyCookieValueCountsAsMissing() throws {
        let t = try table(splitRoute(5000, 5000))
        #expect(try #require(t.route(FakeRequest(headers: [("Cookie", "SWITCHYARD_BUCKET=")]), random: 1)).issueCookie)
    }

    @Test func noCookieIssuedWithoutASplit() throws {
        let t = try table(twoBackends + "route app {\n backend legacy\n sticky cookie S\n}\n")
        let d = try #require(t.route(FakeRequest(), random: 5))
        #expect(!d.issueCookie && d.bucket == -1 && d.reason == .active)
    }

    @Test func stickyHeaderFallsBackToClientAddress() throws {
        let byHeader = try table(splitRoute(5000, 5000, sticky: "sticky header X-User"))
        let byClient = try table(splitRoute(5000, 5000, sticky: "sticky client"))
        let seed = testSeed(5)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<200 {
            let client = ClientAddress.v4(UInt32(truncatingIfNeeded: rng.next()))
            let withoutHeader = byHeader.route(FakeRequest(client: client), random: 1)!
            let clientOnly = byClient.route(FakeRequest(client: client), random: 1)!
            #expect(withoutHeader.bucket == clientOnly.bucket && !withoutHeader.issueCookie, "seed \(seed)")
        }
        let user = "user-4711"
        let a = byHeader.route(FakeRequest(client: .v4(1), headers: [("x-user", user)]), random: 1)!
        let b = byHeader.route(FakeRequest(client: .v4(2), headers: [("X-User", user)]), random: 2)!
        #expect(a.bucket == b.bucket)
    }

    @Test func stickyClientTreatsMappedIPv4AsIPv4() throws {
        let t = try table(splitRoute(5000, 5000, sticky: "sticky client"))
        let v4 = t.route(FakeRequest(client: ClientAddress(parsing: "192.0.2.55")!), random: 0)!
        let mapped = t.route(FakeRequest(client: ClientAddress(parsing: "::ffff:192.0.2.55")!), random: 0)!
        #expect(v4.bucket == mapped.bucket)
    }

    @Test func bucketIsFNV1aOfTheKeyModulo10000() throws {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
        let t = try table(splitRoute(5000, 5000))
        let d = try #require(t.route(FakeRequest(headers: [("Cookie", "SWITCHYARD_BUCKET=a")]), random: 0))
        #expect(d.bucket == Int(UInt64(0xaf63_dc4c_8601_ec8c) % 10000))
    }

    @Test func tcpRoutingUsesClientCohortsThenSplit() throws {
        let t = try table(twoBackends + """
            route db {
                mode tcp
                listen 127.0.0.1:0
                cohort client 10.0.0.0/8 -> legacy
                split legacy 0% cloud 100%
            }
            route db2 {
                mode tcp
                listen 127.0.0.1:0
                active legacy standby cloud
            }
            """)
        #expect(t.routeTCP(routeIndex: 0, client: ClientAddress(parsing: "10.1.2.3")!, random: 0)
                == RouteDecision(route: 0, backend: 0, bucket: -1, reason: .cohort))
        let d = t.routeTCP(routeIndex: 0, client: ClientAddress(parsing: "192.0.2.1")!, random: 0)
        #expect(d.backend == 1 && d.reason == .split && d.bucket >= 0 && !d.issueCookie)
        #expect(t.routeTCP(routeIndex: 1, client: .unix, random: 0) == RouteDecision(route: 1, backend: 0, bucket: -1, reason: .active))
        // tcp routes are never chosen for http requests.
        #expect(t.route(FakeRequest(), random: 0) == nil)
    }
}
