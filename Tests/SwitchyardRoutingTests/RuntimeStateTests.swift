import Foundation
import Testing
@testable import SwitchyardRouting

@Suite("Runtime state")
struct RuntimeStateTests {
    static let text = twoBackends + """
        route app {
            cohort header X-Staff-Group internal -> cloud
            split legacy 90% cloud 10%
        }
        route auth {
            path /auth/
            active cloud standby legacy
        }
        """

    @Test func splitOverrideReplacesTheFilesSplit() throws {
        var state = RuntimeState()
        state.routes["app"] = RouteRuntime(split: [WeightedBackend(backend: "legacy", basisPoints: 0),
                                                  WeightedBackend(backend: "cloud", basisPoints: 10000)])
        let t = try table(Self.text, state: state)
        #expect(t.routes[0].split.map(\.basisPoints) == [0, 10000])
        #expect(t.route(FakeRequest(path: "/x"), random: 3)?.backend == 1)
    }

    @Test func emptySplitOverrideSendsEverythingToTheActiveSide() throws {
        var state = RuntimeState()
        state.routes["app"] = RouteRuntime(active: "cloud", split: [])
        let t = try table(Self.text, state: state)
        let d = try #require(t.route(FakeRequest(path: "/x"), random: 3))
        #expect(d.backend == 1 && d.reason == .active && !d.issueCookie)
        #expect(t.routes[0].active == "cloud" && t.routes[0].activeIndex == 1)
    }

    @Test func flipSwapsActiveAndStandby() throws {
        var state = RuntimeState()
        state.routes["auth"] = RouteRuntime(active: "legacy", standby: "cloud")
        let t = try table(Self.text, state: state)
        #expect(t.route(FakeRequest(path: "/auth/login"), random: 0)?.backend == 0)
        #expect(t.routes[1].standby == "cloud" && t.routes[1].standbyIndex == 1)
    }

    @Test func extraCohortsComeAfterFileCohortsAndRemovedOnesAreGone() throws {
        var state = RuntimeState()
        let fileCohort = Cohort(matcher: .header(name: "X-Staff-Group", value: "internal"), backend: "cloud")
        let nurses = Cohort(matcher: .header(name: "X-Staff-Group", value: "nurses"), backend: "cloud")
        let everyoneOnLegacy = Cohort(matcher: .path(prefix: "/"), backend: "legacy")
        state.routes["app"] = RouteRuntime(extraCohorts: [nurses, everyoneOnLegacy], removedCohorts: [fileCohort])
        let t = try table(Self.text, state: state)
        #expect(t.routes[0].cohorts == [nurses, everyoneOnLegacy])
        #expect(t.route(FakeRequest(path: "/x", headers: [("X-Staff-Group", "nurses")]), random: 0)?.backend == 1)
        #expect(t.route(FakeRequest(path: "/x", headers: [("X-Staff-Group", "internal")]), random: 0)?.backend == 0)
    }

    @Test func buildRefusesAnInvalidState() throws {
        var state = RuntimeState()
        state.routes["app"] = RouteRuntime(split: [WeightedBackend(backend: "legacy", basisPoints: 9000),
                                                  WeightedBackend(backend: "cloud", basisPoints: 500)])
        state.routes["auth"] = RouteRuntime(active: "legacy")   // standby is legacy too
        do {
            _ = try table(Self.text, state: state)
            Issue.record("expected errors")
        } catch let error as RoutesErrors {
            #expect(error.errors.map(\.description) == [
                "runtime state: route \"app\": split sums to 95.00%, must be exactly 100%",
                "runtime state: route \"auth\": standby is the same backend as active (\"legacy\")",
            ])
        }
        var noSide = RuntimeState()
        noSide.routes["app"] = RouteRuntime(split: [])   // the file route has no active side
        #expect(throws: RoutesErrors.self) { try table(Self.text, state: noSide) }
    }

    @Test func reconciliationDropsVanishedNamesWithWarnings() throws {
        var state = RuntimeState()
        state.routes["gone"] = RouteRuntime(active: "cloud")
        state.routes["app"] = RouteRuntime(split: [WeightedBackend(backend: "legacy", basisPoints: 5000),
                                                  WeightedBackend(backend: "blue", basisPoints: 5000)],
                                           extraCohorts: [Cohort(matcher: .path(prefix: "/x"), backend: "green"),
                                                          Cohort(matcher: .path(prefix: "/y"), backend: "cloud")])
        state.routes["auth"] = RouteRuntime(active: "green", removedCohorts: [Cohort(matcher: .path(prefix: "/z"), backend: "cloud")])
        let config = try parse(Self.text)
        let (reconciled, warnings) = state.reconciled(with: config)
        #expect(reconciled.routes.keys.sorted() == ["app"])
        #expect(reconciled.routes["app"] == RouteRuntime(extraCohorts: [Cohort(matcher: .path(prefix: "/y"), backend: "cloud")]))
        #expect(warnings == [
            "state: route \"app\": split backend \"blue\" no longer exists; the file's split is used",
            "state: route \"app\": cohort path /x -> green names a backend that no longer exists; dropped",
            "state: route \"auth\": active backend \"green\" no longer exists; the routes file's sides are used",
            "state: route \"auth\": removed cohort path /z -> cloud is no longer in the routes file; forgotten",
            "state: route \"gone\" no longer exists; its runtime overrides were dropped",
        ])
        let t = try RouteTable.build(config: config, state: state, generation: 3)
        #expect(t.state == reconciled && t.stateWarnings == warnings)
        #expect(t.routes[0].split.map(\.basisPoints) == [9000, 1000])
    }

    /// A run-time cohort the reloaded file now has a cohort for (the same header in another
    /// case, another side): the file's comes first and always wins, so the run-time one is
    /// dropped with a warning instead of pinning nobody in silence. One whose file twin was
    /// removed at run time stays. Found by review.
    @Test func aRuntimeCohortTheFileNowShadowsIsDroppedWithAWarning() throws {
        var state = RuntimeState()
        state.routes["app"] = RouteRuntime(extraCohorts: [Cohort(matcher: .header(name: "x-staff-group", value: "internal"), backend: "legacy"),
                                                          Cohort(matcher: .path(prefix: "/y"), backend: "cloud")])
        let (reconciled, warnings) = state.reconciled(with: try parse(Self.text))
        #expect(reconciled.routes["app"]?.extraCohorts == [Cohort(matcher: .path(prefix: "/y"), backend: "cloud")])
        #expect(warnings == ["state: route \"app\": run-time cohort header x-staff-group internal -> legacy dropped: "
                             + "the routes file's cohort header X-Staff-Group internal -> cloud takes the same requests and wins"])
        let fileCohort = Cohort(matcher: .header(name: "X-Staff-Group", value: "internal"), backend: "cloud")
        state.routes["app"]?.removedCohorts = [fileCohort]
        let (kept, none) = state.reconciled(with: try parse(Self.text))
        #expect(kept.routes["app"]?.extraCohorts.count == 2 && none.isEmpty, "\(none)")
    }

    /// A flipped route (active and standby, an empty split) whose side was renamed in the
    /// file. The active side gone: the file's sides (before, only the name went: no split and
    /// no active side, and the reload and the restart were refused). The standby gone: the
    /// side in force stays, with the file's other side as standby — nobody moves.
    @Test func aFlippedRouteWhoseSideWasRenamedBuildsFromTheFile() throws {
        let split = "listen http 127.0.0.1:0\nbackend legacy {\n server 192.0.2.1:80\n}\nbackend cloud-v2 {\n server 192.0.2.2:80\n}\nroute app {\n split legacy 90% cloud-v2 10%\n}\n"
        var flipped = RuntimeState()
        flipped.routes["app"] = RouteRuntime(active: "cloud", standby: "legacy", split: [])
        let t = try table(split, state: flipped)
        #expect(t.routes[0].split.map(\.basisPoints) == [9000, 1000])
        #expect(t.stateWarnings == ["state: route \"app\": active backend \"cloud\" no longer exists; the routes file's sides are used"])
        let sides = "listen http 127.0.0.1:0\nbackend legacy-dc2 {\n server 192.0.2.1:80\n}\nbackend cloud {\n server 192.0.2.2:80\n}\nroute app {\n active legacy-dc2 standby cloud\n}\n"
        var swapped = RuntimeState()
        swapped.routes["app"] = RouteRuntime(active: "cloud", standby: "legacy")
        let u = try table(sides, state: swapped)
        #expect(u.routes[0].active == "cloud" && u.routes[0].standby == "legacy-dc2", "cloud stays in force")
        #expect(u.stateWarnings == ["state: route \"app\": standby backend \"legacy\" no longer exists; \"legacy-dc2\" is the standby now (\"cloud\" stays active)"])
        // The same on a split file flipped to cloud whose legacy was renamed.
        let renamed = "listen http 127.0.0.1:0\nbackend legacy-dc2 {\n server 192.0.2.1:80\n}\nbackend cloud {\n server 192.0.2.2:80\n}\nroute app {\n split legacy-dc2 90% cloud 10%\n}\n"
        var flippedToCloud = RuntimeState()
        flippedToCloud.routes["app"] = RouteRuntime(active: "cloud", standby: "legacy", split: [])
        let v = try table(renamed, state: flippedToCloud)
        #expect(v.routes[0].active == "cloud" && v.routes[0].split.isEmpty && v.routes[0].standby == "legacy-dc2")
    }

    @Test func stateRoundTripsThroughJSONAndToleratesMissingLists() throws {
        var state = RuntimeState()
        state.routes["app"] = RouteRuntime(active: "cloud", split: [WeightedBackend(backend: "cloud", basisPoints: 10000)],
                                           extraCohorts: [Cohort(matcher: .cookie(name: "a", value: "b"), backend: "cloud"),
                                                          Cohort(matcher: .client(CIDR(parsing: "2001:db8::/32")!), backend: "legacy")])
        let data = try JSONEncoder().encode(state)
        #expect(try JSONDecoder().decode(RuntimeState.self, from: data) == state)
        let sparse = Data(#"{"routes":{"auth":{"active":"legacy","standby":"cloud"}}}"#.utf8)
        let decoded = try JSONDecoder().decode(RuntimeState.self, from: sparse)
        #expect(decoded.routes["auth"] == RouteRuntime(active: "legacy", standby: "cloud"))
    }
}

@Suite("Describing changes")
struct DescribeChangesTests {
    @Test func describesShareActiveStandbyAndCohortChanges() throws {
        let text = RuntimeStateTests.text
        let old = try table(text, generation: 1)
        var state = RuntimeState()
        state.routes["app"] = RouteRuntime(split: [WeightedBackend(backend: "legacy", basisPoints: 7500),
                                                  WeightedBackend(backend: "cloud", basisPoints: 2500)],
                                           extraCohorts: [Cohort(matcher: .header(name: "X-Staff-Group", value: "nurses"), backend: "cloud")])
        state.routes["auth"] = RouteRuntime(active: "legacy", standby: "cloud")
        let new = try table(text, state: state, generation: 2)
        #expect(new.describeChanges(from: old) == [
            "app legacy 90.00% → 75.00%",
            "app cloud 10.00% → 25.00%",
            "app cohort added: header X-Staff-Group nurses -> cloud",
            "auth active cloud → legacy",
            "auth standby legacy → cloud",
        ])
        #expect(old.describeChanges(from: new).contains("app cloud 25.00% → 10.00%"))
        #expect(old.describeChanges(from: new).contains("app cohort removed: header X-Staff-Group nurses -> cloud"))
    }

    @Test func describesEndingAndStartingASplit() throws {
        let text = RuntimeStateTests.text
        let old = try table(text)
        var state = RuntimeState()
        state.routes["app"] = RouteRuntime(active: "cloud", split: [])
        let flipped = try table(text, state: state)
        #expect(flipped.describeChanges(from: old) == ["app split legacy 90.00% cloud 10.00% → active cloud"])
        #expect(old.describeChanges(from: flipped) == ["app active cloud → split legacy 90.00% cloud 10.00%"])
    }

    @Test func nothingChangedIsEmpty() throws {
        let a = try table(RuntimeStateTests.text, generation: 1)
        let b = try table(RuntimeStateTests.text, generation: 2)
        #expect(b.describeChanges(from: a).isEmpty)
    }

    @Test func describesRoutesAndBackendsAddedAndRemovedByAReload() throws {
        let old = try table(RuntimeStateTests.text)
        let new = try table(RuntimeStateTests.text + "\nbackend green {\n server 192.0.2.9:80\n}\nroute extra {\n host e.example\n backend green\n}\n")
        #expect(new.describeChanges(from: old) == ["backend green added", "route extra added"])
        #expect(old.describeChanges(from: new) == ["backend green removed", "route extra removed"])
    }
}
