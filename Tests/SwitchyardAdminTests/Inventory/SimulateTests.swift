import Foundation
import Testing
import SwitchyardAdmin
import SwitchyardProxy
import SwitchyardTestSupport

/// `simulate` against what really happens: 10,000 users (each a sticky cookie, some in the
/// staff cohort) are served, the simulation says who would move, the change is then made
/// for real and the same users come back — the moves counted on the wire equal the
/// simulation's, nobody moves back when a share rises, and a cohort change moves exactly
/// the users it pinned.
@Suite struct SimulateTests {
    static let routes = """
        listen http 127.0.0.1:0
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            split legacy 90% cloud 10%
            sticky cookie SB
            cohort header X-Staff-Group internal -> cloud
        }
        """

    static let users = 10_000

    /// Every user once, over 8 keep-alive connections; each user's side, from the answer.
    func serve(_ h: AdminHarness) throws -> [String] {
        let clients = try (0..<8).map { _ in try TestClient(port: h.port) }
        var sides = [String](repeating: "", count: Self.users)
        for user in 0..<Self.users {
            let cookie = String(format: "%016llx", UInt64(user) &* 0x9E37_79B9_7F4A_7C15)
            let staff = user % 50 == 0 ? "X-Staff-Group: internal\r\n" : ""
            let response = try #require(clients[user % 8].get("/chart/\(user)", headers: "Cookie: SB=\(cookie)\r\nUser-Agent: okhttp/4.9\r\n\(staff)"))
            sides[user] = response.text.hasPrefix("cloud") ? "cloud" : "legacy"
        }
        return sides
    }

    func json(_ h: AdminHarness, _ line: String) throws -> [String: Any] {
        let (answer, _) = h.service.execute(line, caller: AdminHarness.root)
        #expect(answer.ok, "\(answer.text)")
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.json.utf8)) as? [String: Any])
    }

    func moved(_ simulation: [String: Any], _ from: String, _ to: String) -> Int {
        (simulation["moves"] as? [[String: Any]] ?? []).first { $0["from"] as? String == from && $0["to"] as? String == to }?["users"] as? Int ?? 0
    }

    @Test func theSimulatedMovesAreTheMovesThatHappen() throws {
        let h = try AdminHarness(routes: Self.routes)
        defer { h.stop() }
        let first = try serve(h)

        // Raise cloud to 25 %: simulate, then do it, then the same users come back.
        let before = h.run("simulate app cloud 25%").text
        print(before)
        let simulation = try json(h, "simulate app cloud 25% --json")
        #expect(simulation["records"] as? Int == Self.users)
        #expect(simulation["users"] as? Int == Self.users)
        #expect(moved(simulation, "cloud", "legacy") == 0)
        #expect(simulation["violation"] as? Bool == false)
        #expect(before.contains("moves away from cloud: 0 users — as it must be: cloud's share only rises"))
        let now = simulation["now"] as! [String: [String: Int]]
        #expect(now["cloud"]!["users"] == first.filter { $0 == "cloud" }.count)
        #expect(h.run("weight app cloud 25%").ok)
        let second = try serve(h)
        let realMoves = zip(first, second).filter { $0 == "legacy" && $1 == "cloud" }.count
        let realBack = zip(first, second).filter { $0 == "cloud" && $1 == "legacy" }.count
        print("weight 10% → 25%: simulated legacy → cloud \(moved(simulation, "legacy", "cloud")), measured \(realMoves); back \(realBack)")
        print(h.run("simulate app cloud 25%").text)
        #expect(realMoves > 1_000)
        #expect(moved(simulation, "legacy", "cloud") == realMoves)
        #expect(realBack == 0)
        let after = simulation["after"] as! [String: [String: Int]]
        #expect(after["cloud"]!["users"] == second.filter { $0 == "cloud" }.count)

        // Remove the staff cohort: exactly the pinned users whose bucket is legacy move.
        let cohort = try json(h, "simulate app cohort remove header X-Staff-Group internal -> cloud --json")
        #expect(h.run("cohort app remove header X-Staff-Group internal -> cloud").ok)
        let third = try serve(h)
        let cohortMoves = zip(second, third).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(cohortMoves.allSatisfy { $0.offset % 50 == 0 }, "only staff users may move")
        #expect(cohortMoves.count > 0)
        #expect(moved(cohort, "cloud", "legacy") == cohortMoves.count)
        #expect(moved(cohort, "legacy", "cloud") == 0)
        let byRule = cohort["by_cohort"] as? [String: Any]
        #expect(byRule?.keys.sorted() == ["header X-Staff-Group internal -> cloud"])
        print("cohort removal: simulated cloud → legacy \(moved(cohort, "cloud", "legacy")), measured \(cohortMoves.count)")

        // A share that falls moves users back, and the tool says which way.
        let lower = try json(h, "simulate app cloud 5% --json")
        #expect(moved(lower, "cloud", "legacy") > 0)
        #expect(moved(lower, "legacy", "cloud") == 0)
        // Nothing was changed by simulating: 3 generations (start, weight, cohort).
        #expect(h.proxy.table.generation == 3)
        #expect(h.auditRecords().count == 2)
    }

    /// A cohort the log cannot judge — one workstation (/32, narrower than the /24 kept),
    /// a header value — is named as not counted, beside the moves it does count. Before,
    /// the answer said "moves: none" for a change that moves that workstation.
    @Test func aCohortTheLogCannotJudgeIsNamedNotCounted() throws {
        let h = try AdminHarness(routes: Self.routes)
        defer { h.stop() }
        for i in 0..<20 { _ = try #require(try TestClient(port: h.port).get("/chart/\(i)", headers: "Cookie: SB=u\(i)\r\n")) }
        let narrow = h.run("simulate app cohort add client 127.0.0.1/32 -> cloud")
        #expect(narrow.ok, "\(narrow.text)")
        #expect(narrow.text.contains("NOT COUNTED: cohort client 127.0.0.1/32"), "\(narrow.text)")
        let (header, _) = h.service.execute("simulate app cohort add header X-Ward icu -> cloud --json", caller: AdminHarness.root)
        #expect(header.json.contains("\"unjudged_cohorts\"") && header.json.contains("X-Ward"), "\(header.json)")
        // A /16 is as wide as the networks kept: judged, so not named.
        let wide = h.run("simulate app cohort add client 127.0.0.0/16 -> cloud")
        #expect(wide.ok && !wide.text.contains("NOT COUNTED"), "\(wide.text)")
    }

    @Test func badSimulationsAreRefusedInOneLine() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        for (line, message) in [("simulate nosuch cloud 25%", "unknown route \"nosuch\""),
                                ("simulate app nosuch 25%", "unknown backend \"nosuch\""),
                                ("simulate app cloud 125%", "outside 0%…100%"),
                                ("simulate app cloud many", "is not a percentage"),
                                ("simulate app", "usage: simulate"),
                                ("simulate app cloud 25% --since soon", "--since soon"),
                                ("simulate app cohort remove header X a -> cloud", "has no such cohort")] {
            let answer = h.run(line)
            #expect(!answer.ok, "\(line)")
            #expect(answer.text.contains(message), "\(line): \(answer.text)")
            #expect(!answer.text.contains("\n"))
        }
        #expect(h.auditRecords().isEmpty)
    }
}
