import Foundation
import Testing
@testable import SwitchyardRouting

@Suite("Route selection: host and path")
struct RouteSelectionTests {
    static let text = """
        listen http 127.0.0.1:0
        backend a {
            server 192.0.2.1:80
        }
        backend b {
            server 192.0.2.2:80
        }
        route anyhost {
            path /very/long/prefix/
            backend a
        }
        route charting {
            host charting.example other.example
            backend b
        }
        route auth {
            host charting.example
            path /auth/
            backend a
        }
        route api {
            host charting.example
            path /api
            backend b
        }
        route api-shadow {
            host charting.example
            path /api
            backend a
        }
        route fallback {
            backend a
        }
        """

    func routeName(_ table: RouteTable, host: String, path: String) -> String? {
        table.route(FakeRequest(host: host, path: path), random: 0).map { table.routes[$0.route].name }
    }

    @Test func hostRoutesBeatAnyHostRoutesEvenWithLongerPaths() throws {
        let t = try table(Self.text)
        #expect(routeName(t, host: "charting.example", path: "/very/long/prefix/x") == "charting")
        #expect(routeName(t, host: "elsewhere.example", path: "/very/long/prefix/x") == "anyhost")
        #expect(routeName(t, host: "elsewhere.example", path: "/") == "fallback")
    }

    @Test func hostMatchIgnoresCasePortAndTrailingDot() throws {
        let t = try table(Self.text)
        #expect(routeName(t, host: "CHARTING.Example:8443", path: "/x") == "charting")
        #expect(routeName(t, host: "charting.example.", path: "/x") == "charting")
        #expect(routeName(t, host: "other.example", path: "/x") == "charting")
        #expect(routeName(t, host: "charting.example.evil", path: "/x") == "fallback")
    }

    @Test func longestPathPrefixWinsAmongHostRoutes() throws {
        let t = try table(Self.text)
        #expect(routeName(t, host: "charting.example", path: "/auth/login") == "auth")
        #expect(routeName(t, host: "charting.example", path: "/auth/") == "auth")
    }

    @Test func prefixEndingInSlashNeedsTheSlash() throws {
        let t = try table(Self.text)
        // "/auth/" matches paths starting with "/auth/" only.
        #expect(routeName(t, host: "charting.example", path: "/auth") == "charting")
    }

    @Test func prefixWithoutSlashMatchesWholeSegmentsOnly() throws {
        let t = try table(Self.text)
        #expect(routeName(t, host: "charting.example", path: "/api") == "api")
        #expect(routeName(t, host: "charting.example", path: "/api/v1") == "api")
        #expect(routeName(t, host: "charting.example", path: "/apix") == "charting")
    }

    @Test func tiesGoToTheFirstRouteInTheFile() throws {
        let t = try table(Self.text)
        #expect(routeName(t, host: "charting.example", path: "/api/x") == "api")
    }

    @Test func noMatchingRouteIsNil() throws {
        let t = try table(twoBackends + "route only {\n host a.example\n backend legacy\n}\n")
        #expect(t.route(FakeRequest(host: "b.example"), random: 0) == nil)
        #expect(t.route(FakeRequest(host: "a.example"), random: 0)?.reason == .active)
    }

    @Test func bracketedIPv6HostIgnoresPort() throws {
        let t = try table(twoBackends + "route v6 {\n host [2001:db8::1]\n backend cloud\n}\nroute any {\n backend legacy\n}\n")
        let decision = try #require(t.route(FakeRequest(host: "[2001:DB8::1]:8443"), random: 0))
        #expect(t.routes[decision.route].name == "v6")
    }

    @Test func tableLooksUpNames() throws {
        let t = try table(Self.text)
        #expect(t.backendIndex(named: "b") == 1 && t.backendIndex(named: "zz") == nil)
        #expect(t.routeIndex(named: "auth") == 2 && t.routeIndex(named: "zz") == nil)
    }

    @Test func activeDecisionHasNoBucket() throws {
        let t = try table(Self.text)
        let d = try #require(t.route(FakeRequest(host: "x.example"), random: 99))
        #expect(d == RouteDecision(route: 5, backend: 0, bucket: -1, reason: .active, issueCookie: false, cookieValue: 0))
    }
}

@Suite("Cohorts")
struct CohortTests {
    static let text = twoBackends + """
        route app {
            cohort header X-Staff-Group internal -> cloud
            cohort cookie side new -> cloud
            cohort client 198.51.100.0/24 -> cloud
            cohort client 2001:db8:12::/48 -> cloud
            cohort path /beta -> cloud
            cohort header X-Shift night -> legacy
            backend legacy
        }
        """

    func decide(_ request: FakeRequest) throws -> (String, RouteDecision.Reason) {
        let t = try table(Self.text)
        let d = try #require(t.route(request, random: 5))
        return (t.backends[d.backend].name, d.reason)
    }

    @Test func headerCohortMatchesNameCaseInsensitivelyAndValueExactly() throws {
        #expect(try decide(FakeRequest(headers: [("x-staff-group", " internal ")])) == ("cloud", .cohort))
        #expect(try decide(FakeRequest(headers: [("X-STAFF-GROUP", "internal")])) == ("cloud", .cohort))
        #expect(try decide(FakeRequest(headers: [("X-Staff-Group", "Internal")])) == ("legacy", .active))
        #expect(try decide(FakeRequest(headers: [("X-Staff-Group-2", "internal")])) == ("legacy", .active))
    }

    @Test func cookieCohortFindsTheCookieAmongOthers() throws {
        #expect(try decide(FakeRequest(headers: [("Cookie", "a=1; side=new; b=2")])) == ("cloud", .cohort))
        #expect(try decide(FakeRequest(headers: [("Cookie", "side=\"new\"")])) == ("cloud", .cohort))
        #expect(try decide(FakeRequest(headers: [("Cookie", "xside=new; side=old")])) == ("legacy", .active))
        #expect(try decide(FakeRequest(headers: [("Cookie", "Side=new")])) == ("legacy", .active))
        #expect(try decide(FakeRequest(headers: [("Cookie", "garbage;;=; side")])) == ("legacy", .active))
    }

    @Test func clientCohortIPv4() throws {
        #expect(try decide(FakeRequest(client: ClientAddress(parsing: "198.51.100.200")!)) == ("cloud", .cohort))
        #expect(try decide(FakeRequest(client: ClientAddress(parsing: "198.51.101.1")!)) == ("legacy", .active))
        // A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6.
        #expect(try decide(FakeRequest(client: ClientAddress(parsing: "::ffff:198.51.100.9")!)) == ("cloud", .cohort))
        #expect(try decide(FakeRequest(client: .unix)) == ("legacy", .active))
    }

    @Test func clientCohortIPv6() throws {
        #expect(try decide(FakeRequest(client: ClientAddress(parsing: "2001:db8:12:ffff::1")!)) == ("cloud", .cohort))
        #expect(try decide(FakeRequest(client: ClientAddress(parsing: "2001:db8:13::1")!)) == ("legacy", .active))
    }

    @Test func pathCohort() throws {
        #expect(try decide(FakeRequest(path: "/beta")) == ("cloud", .cohort))
        #expect(try decide(FakeRequest(path: "/beta/page")) == ("cloud", .cohort))
        #expect(try decide(FakeRequest(path: "/betamax")) == ("legacy", .active))
    }

    @Test func firstMatchingCohortWins() throws {
        // Two header cohorts match; the first (cloud) pins. (Two for the same header and
        // value are refused: the second would pin nobody.)
        #expect(try decide(FakeRequest(path: "/x", headers: [("X-Staff-Group", "internal"), ("X-Shift", "night")])) == ("cloud", .cohort))
        #expect(try decide(FakeRequest(path: "/x", headers: [("X-Shift", "night")])) == ("legacy", .cohort))
    }

    @Test func cohortBeatsTheSplitAndIssuesNoCookie() throws {
        let t = try table(twoBackends + "route app {\n cohort client 192.0.2.0/24 -> legacy\n split legacy 0% cloud 100%\n}\n")
        let d = try #require(t.route(FakeRequest(client: ClientAddress(parsing: "192.0.2.1")!), random: 3))
        #expect(d == RouteDecision(route: 0, backend: 0, bucket: -1, reason: .cohort))
    }
}

@Suite("Addresses and CIDRs")
struct AddressTests {
    @Test func parsesAndPrintsCIDRs() throws {
        #expect(CIDR(parsing: "10.50.0.0/16")?.description == "10.50.0.0/16")
        #expect(CIDR(parsing: "2001:DB8:0:0::/32")?.description == "2001:db8::/32")
        #expect(CIDR(parsing: "192.0.2.7")?.description == "192.0.2.7/32")
        #expect(CIDR(parsing: "0.0.0.0/0")?.contains(.v4(0xFFFF_FFFF)) == true)
        #expect(CIDR(parsing: "::/0")?.contains(ClientAddress(parsing: "2001:db8::1")!) == true)
        for bad in ["10.50.1.0/16", "10.0.0.0/33", "10.0.0/8", "010.0.0.0/8", "1::2::3/64", "2001:db8::/129", "x", "10.0.0.0/", "fe80::1%eth0/64"] {
            #expect(CIDR(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func cidrBoundaries() throws {
        let v4 = try #require(CIDR(parsing: "198.51.100.0/24"))
        #expect(v4.contains(ClientAddress(parsing: "198.51.100.0")!) && v4.contains(ClientAddress(parsing: "198.51.100.255")!))
        #expect(!v4.contains(ClientAddress(parsing: "198.51.99.255")!) && !v4.contains(ClientAddress(parsing: "198.51.101.0")!))
        let v6 = try #require(CIDR(parsing: "2001:db8:12:8000:8000::/65"))  // the 65th bit is the low half's top bit
        #expect(v6.contains(ClientAddress(parsing: "2001:db8:12:8000:8000::1")!))
        #expect(!v6.contains(ClientAddress(parsing: "2001:db8:12:8000:7fff::1")!))
        #expect(!v6.contains(ClientAddress(parsing: "192.0.2.1")!))
        let mapped = try #require(CIDR(parsing: "::ffff:0:0/96"))
        #expect(mapped.contains(.v4(0x0A00_0001)))
    }

    @Test func clientAddressText() {
        #expect(ClientAddress(parsing: "192.0.2.1") == .v4(0xC000_0201))
        #expect(ClientAddress(parsing: "::1") == .v6(0, 1))
        #expect(ClientAddress(parsing: "2001:db8::192.0.2.1") == .v6(0x2001_0db8_0000_0000, 0x0000_0000_c000_0201))
        #expect(ClientAddress(parsing: "2001:db8:0:0:1:0:0:1")?.description == "2001:db8::1:0:0:1")
        #expect(ClientAddress(parsing: "1:2:3:4:5:6:7:8:9") == nil)
    }

    @Test func cidrIsCodableAsText() throws {
        let cohort = Cohort(matcher: .client(CIDR(parsing: "10.50.0.0/16")!), backend: "legacy")
        let data = try JSONEncoder().encode(cohort)
        #expect(String(decoding: data, as: UTF8.self).contains("\"10.50.0.0\\/16\""))
        #expect(try JSONDecoder().decode(Cohort.self, from: data) == cohort)
    }

    /// A route with its own certificate answers where that certificate was presented; the
    /// SNI name "internal.test." (absolute form) picks it as "internal.test" does, so it may
    /// not be refused as misdirected (it was: 421).
    @Test func aTrailingDotInTheServerNameStillCoversTheRoutesCertificate() throws {
        let config = try RoutesConfig.parse("""
            listen https 127.0.0.1:0 cert /site.pem key /site.key
            backend a {
                server 192.0.2.1:80
            }
            route internal {
                host internal.test
                cert /internal.pem key /internal.key
                backend a
            }
            """, file: "t.routes")
        let table = try RouteTable.build(config: config, state: RuntimeState(), generation: 1)
        let index = try #require(table.routeIndex(named: "internal"))
        #expect(table.certificateCovers(routeIndex: index, serverName: "internal.test"))
        #expect(table.certificateCovers(routeIndex: index, serverName: "Internal.Test."))
        #expect(!table.certificateCovers(routeIndex: index, serverName: "other.test"))
        #expect(!table.certificateCovers(routeIndex: index, serverName: nil))
    }
}
