import Foundation
import Testing
import SwitchyardTestSupport
@testable import SwitchyardAdmin
import SwitchyardRouting

/// Cohorts added and removed at run time change routing at once, on a connection that was
/// already open before the command.
@Suite struct RuntimeCohortTests {
    func side(_ client: TestClient, _ path: String, headers: String = "") throws -> String {
        let response = try #require(client.get(path, headers: headers), "no answer for \(path)")
        return String(response.text.split(separator: " ").first ?? "")
    }

    @Test func headerClientAndPathCohortsRouteOpenConnections() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("weight app legacy 100%").ok)
        let client = try TestClient(port: h.port)   // opened before any cohort exists
        #expect(try side(client, "/", headers: "X-Staff-Group: internal\r\n") == "legacy")

        #expect(h.run("cohort app add header X-Staff-Group internal -> cloud").ok)
        #expect(try side(client, "/", headers: "X-Staff-Group: internal\r\n") == "cloud", "header cohort")
        #expect(try side(client, "/", headers: "X-Staff-Group: external\r\n") == "legacy", "other values are not in it")
        #expect(try side(client, "/") == "legacy")

        #expect(h.run("cohort app add path /reports/export -> cloud").ok)
        #expect(try side(client, "/reports/export") == "cloud", "path cohort")
        #expect(try side(client, "/reports/export/2024") == "cloud", "the path cohort is a prefix")
        #expect(try side(client, "/reports/view") == "legacy")

        #expect(h.run("cohort app add client 127.0.0.0/8 -> cloud").ok)
        #expect(try side(client, "/anything") == "cloud", "client cohort: this test's address is in 127.0.0.0/8")
        #expect(try side(try TestClient(port: h.port), "/anything") == "cloud", "and on new connections")

        #expect(h.run("cohort app remove client 127.0.0.0/8 -> cloud").ok)
        #expect(h.run("cohort app remove header X-Staff-Group internal -> cloud").ok)
        #expect(try side(client, "/anything") == "legacy", "removal takes effect at once")
        #expect(try side(client, "/", headers: "X-Staff-Group: internal\r\n") == "legacy")
        #expect(try side(client, "/reports/export") == "cloud", "the remaining cohort still applies")
        #expect(h.proxy.table.generation == 7, "one generation per change")
    }

    /// A header or cookie name the routes file would refuse is refused at run time too, in
    /// one line with nothing changed: it used to be accepted, and `show routes` then printed
    /// a line the parser cannot read back.
    @Test func aCohortNameTheRoutesFileWouldRefuseIsRefused() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        for line in ["cohort app add header X(Staff) internal -> cloud", "cohort app add cookie a,b 1 -> cloud"] {
            let answer = h.run(line)
            #expect(!answer.ok && answer.text.contains("bad ") && answer.text.contains(" name "), "\(line): \(answer.text)")
        }
        #expect(h.proxy.table.generation == 1)
        #expect(h.run("cohort app add header X-Staff internal -> cloud").ok)
    }

    /// Values and prefixes too: `show routes` and the state file write them as one word of a
    /// routes line, so "night shift", "" or "a#b" could not be read back.
    @Test func aCohortValueTheRoutesFileCouldNotHoldIsRefused() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        for line in ["cohort app add header X-Team \"night shift\" -> cloud", "cohort app add cookie team \"\" -> cloud",
                     "cohort app add header X-Team a#b -> cloud", "cohort app add path \"/a b\" -> cloud"] {
            let answer = h.run(line)
            #expect(!answer.ok && answer.text.contains("must be one word"), "\(line): \(answer.text)")
        }
        #expect(h.proxy.table.generation == 1)
        #expect(h.run("cohort app add header X-Team night -> cloud").ok)
        let shown = h.run("show routes").text
        #expect(shown.contains("cohort header X-Team night -> cloud"), "\(shown)")
        // One added before the check (in a state file of an earlier release) can be removed.
        var state = h.proxy.table.state
        state.routes["app", default: RouteRuntime()].extraCohorts.append(Cohort(matcher: .header(name: "X-Team", value: "night shift"), backend: "cloud"))
        let table = try RouteTable.build(config: try RoutesConfig.load(path: h.routesPath), state: state, generation: 9)
        let removed = try AdminCommands.cohort(table, state: state, words: ["cohort", "app", "remove", "header", "X-Team", "night shift", "->", "cloud"])
        #expect(removed.routes["app"]?.extraCohorts.contains { $0.matcher == .header(name: "X-Team", value: "night shift") } == false)
    }

    /// A second cohort for the same requests is refused, and the first keeps them: before,
    /// it was answered "added" and pinned nobody, since the first match wins.
    @Test func aSecondCohortForTheSameRequestsIsRefusedNotSilentlyShadowed() throws {
        let h = try AdminHarness()
        defer { h.stop() }
        #expect(h.run("cohort app add header X-Staff-Group nurses -> legacy").ok)
        let generation = h.service.table.generation
        let answer = h.run("cohort app add header x-staff-group nurses -> cloud")
        #expect(!answer.ok)
        #expect(answer.text == "error: route app already pins header X-Staff-Group nurses to legacy: remove that cohort first (cohort app remove header X-Staff-Group nurses -> legacy)",
                "\(answer.text)")
        #expect(h.service.table.generation == generation, "nothing changed")
        #expect(try side(try TestClient(port: h.port), "/", headers: "X-Staff-Group: nurses\r\n") == "legacy")
        // Moved on purpose: remove, then add.
        #expect(h.run("cohort app remove header X-Staff-Group nurses -> legacy").ok)
        #expect(h.run("cohort app add header X-Staff-Group nurses -> cloud").ok)
        #expect(try side(try TestClient(port: h.port), "/", headers: "X-Staff-Group: nurses\r\n") == "cloud")
    }
}
