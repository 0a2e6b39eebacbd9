import Foundation
import Testing
@testable import SwitchyardRouting
import SwitchyardTestSupport

/// `RouteTable.route` looks routes up in a `RouteIndex`; the rule it must keep is the plain
/// scan in rule order (`routeByScan`). These compare the two on random tables and requests,
/// over hosts, prefixes that end in '/' or not, shared prefixes, any-host routes and routes
/// bound to listeners, where the tie rules (file order, longest prefix) decide.
@Suite("Route index: chooses what the ordered scan chooses")
struct RouteIndexTests {
    static let hosts = ["a.example", "B.example", "c.example", "192.0.2.7", "a.example.org"]
    static let prefixes = ["/", "/a", "/a/", "/a/b", "/a/b/", "/ab", "/api", "/api/v1", "/api/v1/", "/x/y/z", "/x"]
    static let requestHosts = ["a.example", "A.EXAMPLE", "a.example:8080", "a.example.", "b.example",
                               "c.example", "192.0.2.7", "192.0.2.7:80", "unknown.example", "", "a.example.org"]
    static let requestPaths = ["/", "/a", "/a/", "/a/b", "/a/b/c", "/a/bc", "/ab", "/abc", "/api", "/api/",
                               "/api/v1", "/api/v1/x", "/api/v2", "/x/y/z", "/x/y/z/w", "/x/y", "/x", "*", "/A/b"]

    /// A routes file of `count` random http routes (and one tcp route, which must never match).
    static func randomTable(count: Int, using random: inout some RandomNumberGenerator) throws -> RouteTable {
        var text = """
            listen http 127.0.0.1:0 name one
            listen http 127.0.0.1:0 name two
            backend a {
                server 192.0.2.1:80
            }

            """
        for r in 0..<count {
            text += "route r\(r) {\n"
            if Int.random(in: 0..<4, using: &random) != 0 {
                let names = (0..<Int.random(in: 1...2, using: &random)).map { _ in hosts.randomElement(using: &random)! }
                text += "    host \(Set(names).sorted().joined(separator: " "))\n"
            }
            if Int.random(in: 0..<3, using: &random) != 0 { text += "    path \(prefixes.randomElement(using: &random)!)\n" }
            switch Int.random(in: 0..<5, using: &random) {
            case 0: text += "    listen one\n"
            case 1: text += "    listen two\n"
            case 2: text += "    listen one two\n"
            default: break
            }
            text += "    backend a\n}\n"
        }
        text += """
            route tcp {
                mode tcp
                listen 127.0.0.1:0
                backend a
            }

            """
        return try table(text)
    }

    @Test("random tables and requests: the index chooses exactly what the scan chooses")
    func indexMatchesScan() throws {
        var random = SplitMix64(seed: 0x5EED_0001)
        var compared = 0, matched = 0
        for round in 0..<300 {
            let table = try Self.randomTable(count: Int.random(in: 1...12, using: &random), using: &random)
            for host in Self.requestHosts {
                for path in Self.requestPaths {
                    for listener in [-1, 0, 1] {
                        let request = ListenerRequest(host: host, path: path, listener: listener)
                        let fast = table.route(request, random: 1)?.route
                        let scan = table.routeByScan(request, random: 1)?.route
                        #expect(fast == scan, "round \(round): host \"\(host)\" path \"\(path)\" listener \(listener)")
                        compared += 1
                        if scan != nil { matched += 1 }
                    }
                }
            }
        }
        // The tables must exercise both outcomes, or the comparison proves little.
        #expect(matched > compared / 4 && matched < compared)
    }

    @Test("a thousand hosts of a hundred prefixes each: the last host's deepest route is found")
    func largeTable() throws {
        var text = "listen http 127.0.0.1:0\nbackend a {\n    server 192.0.2.1:80\n}\n"
        for h in 0..<100 {
            text += "route h\(h) {\n    host facility\(h).clinic.example\n    backend a\n}\n"
            for p in 0..<20 {
                text += "route h\(h)p\(p) {\n    host facility\(h).clinic.example\n    path /app\(p)/\n    backend a\n}\n"
            }
        }
        let table = try table(text)
        let request = ListenerRequest(host: "FACILITY99.clinic.example", path: "/app19/patients/7", listener: 0)
        let chosen = try #require(table.route(request, random: 1))
        #expect(table.routes[chosen.route].name == "h99p19")
        #expect(table.routeByScan(request, random: 1)?.route == chosen.route)
        let bare = ListenerRequest(host: "facility42.clinic.example", path: "/elsewhere", listener: 0)
        #expect(table.route(bare, random: 1).map { table.routes[$0.route].name } == "h42")
        #expect(table.route(ListenerRequest(host: "facility100.clinic.example", path: "/", listener: 0), random: 1)?.route == nil)
    }
}

/// A `FakeRequest` that came through listener `listener`.
final class ListenerRequest: RoutableRequest {
    private let base: FakeRequest
    let listener: Int

    init(host: String, path: String, listener: Int) {
        base = FakeRequest(host: host, path: path)
        self.listener = listener
    }

    var host: UnsafeRawBufferPointer { base.host }
    var path: UnsafeRawBufferPointer { base.path }
    var clientAddress: ClientAddress { base.clientAddress }
    func headerValue(lowercasedName name: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        base.headerValue(lowercasedName: name)
    }
}
