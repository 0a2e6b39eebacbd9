import Testing
@testable import SwitchyardRouting

/// The guard arithmetic over synthetic windows: every threshold at N and N-1, low traffic,
/// both sides failing, one failing server of two.
@Suite struct GuardCheckTests {
    let errors = GuardConfig(name: "e", route: "app", kind: .errors, newSide: "cloud", oldSide: "legacy", mode: .revert)
    let latency = GuardConfig(name: "l", route: "app", kind: .latency, newSide: "cloud", oldSide: "legacy")
    let clientErrors = GuardConfig(name: "c", route: "app", kind: .clientErrors, newSide: "cloud", oldSide: "legacy")

    @Test func errorDefaultsAreTheIssues() {
        #expect(errors.points == 1 && errors.times == 2 && errors.minRequests == 50 && errors.windowSeconds == 30 && errors.checks == 3)
        #expect(latency.times == 1.5 && latency.aboveMilliseconds == 150 && latency.minRequests == 100 && latency.windowSeconds == 10)
        #expect(clientErrors.points == 5)
    }

    @Test func minimumRequestsAtNAndNMinusOne() {
        // 50 requests, 10 failed: red; 49 requests: insufficient, whatever they say.
        #expect(errors.check(new: .init(requests: 50, errors: 10), old: .init(requests: 500)) == .red(errors.check(new: .init(requests: 50, errors: 10), old: .init(requests: 500)).figures))
        let low = errors.check(new: .init(requests: 49, errors: 49), old: .init(requests: 500))
        #expect(low.word == "insufficient data")
        #expect(!low.isGreen)
    }

    @Test func pointsThresholdAtNAndBelow() {
        // 1000 requests: 10 errors = 1.00 pt above an old side at 0 → red; 9 = 0.9 pt → green.
        #expect(errors.check(new: .init(requests: 1000, errors: 10), old: .init(requests: 1000)).word == "red")
        #expect(errors.check(new: .init(requests: 1000, errors: 9), old: .init(requests: 1000)).word == "green")
    }

    /// A ratio is red only with 3 failures or more in the window: at night's 50 requests
    /// one 500 is 2 %, past 1 pt and 2× an old side at 0, and it stayed in the sliding
    /// window for every check. Two stay green; three are red.
    @Test func aRatioNeedsThreeFailuresToBeRed() {
        #expect(errors.check(new: .init(requests: 50, errors: 1), old: .init(requests: 500)).word == "green")
        #expect(errors.check(new: .init(requests: 50, errors: 2), old: .init(requests: 500)).word == "green")
        #expect(errors.check(new: .init(requests: 50, errors: 3), old: .init(requests: 500)).word == "red")
        #expect(clientErrors.check(new: .init(requests: 50, clientErrors: 2), old: .init(requests: 500)).word == "green")
        #expect(clientErrors.check(new: .init(requests: 50, clientErrors: 3), old: .init(requests: 500)).word == "red")
    }

    @Test func timesThresholdAtNAndBelow() {
        // Old 2 %, new 4 %: 2 pt and 2× → red. New 3.9 %: 1.9 pt but 1.95× → green.
        #expect(errors.check(new: .init(requests: 1000, errors: 40), old: .init(requests: 1000, errors: 20)).word == "red")
        #expect(errors.check(new: .init(requests: 1000, errors: 39), old: .init(requests: 1000, errors: 20)).word == "green")
    }

    @Test func oldSideAlsoFailingDoesNotTrip() {
        // Both at 20 %: the new side is not worse, the backend shared by both is the problem.
        let verdict = errors.check(new: .init(requests: 500, errors: 100), old: .init(requests: 1500, errors: 300))
        #expect(verdict.word == "green")
        // 30 % against 20 %: 10 pt but only 1.5×: still not the migration's fault by the rule.
        #expect(errors.check(new: .init(requests: 500, errors: 150), old: .init(requests: 1500, errors: 300)).word == "green")
    }

    /// An old side without a request in the window is nothing to compare with, not 0 %:
    /// a new side at its ordinary 1.5 % would trip (the owner passes the old side's last
    /// window with requests when it has one: `GuardAfterFlipTests`).
    @Test func anOldSideWithoutRequestsIsInsufficientData() {
        #expect(errors.check(new: .init(requests: 1000, errors: 15), old: .init()).word == "insufficient data")
        #expect(clientErrors.check(new: .init(requests: 1000, clientErrors: 80), old: .init()).word == "insufficient data")
        #expect(errors.check(new: .init(requests: 1000, errors: 15), old: .init(requests: 1000, errors: 15)).word == "green")
        #expect(errors.check(new: .init(requests: 1000, errors: 15), old: .init(requests: 1)).word == "red")
    }

    /// Figures past any real window (the state file's windows are checked, this is the
    /// second line): the text is written, nothing traps.
    @Test func anImpossibleWindowIsJudgedWithoutTrapping() {
        let huge = SideWindow(requests: 1, errors: 1 << 52, clientErrors: 1 << 52)
        #expect(errors.check(new: .init(requests: 1000, errors: 15), old: huge).word == "green")
        #expect(clientErrors.check(new: .init(requests: 1000), old: huge).figures.contains("1000000000000.00%"))
        #expect(GuardConfig.pct(.infinity) == "1000000000000.00%" && GuardConfig.pct(-.infinity) == "0.00%" && GuardConfig.pct(.nan) == "0.00%")
    }

    @Test func oneFailingServerOfTwoStillTrips() {
        // The new side's window is the sum of its servers: one healthy, one answering 503.
        let healthy = SideWindow(requests: 300, errors: 0)
        let failing = SideWindow(requests: 300, errors: 300)
        let verdict = errors.check(new: healthy + failing, old: .init(requests: 1800, errors: 2))
        #expect(verdict.word == "red")
        #expect(verdict.figures.contains("cloud 300/600 errors (50.00%)"))
    }

    @Test func checksInARowAtNAndNMinusOne() {
        var run = GuardRun()
        let red = GuardVerdict.red("x")
        #expect(run.checked(red, checks: 3, at: "t1") == .none)
        #expect(run.checked(red, checks: 3, at: "t2") == .none)
        // A green check in between starts the count again.
        #expect(run.checked(.green("ok"), checks: 3, at: "t3") == .none)
        #expect(run.checked(red, checks: 3, at: "t4") == .none)
        #expect(run.checked(.insufficient("low"), checks: 3, at: "t5") == .none)
        #expect(run.checked(red, checks: 3, at: "t6") == .none)
        #expect(run.checked(red, checks: 3, at: "t7") == .none)
        #expect(run.checked(red, checks: 3, at: "t8") == .trip(figures: "x (3 checks in a row)"))
        // Latched: no second trip, the trip stays until acknowledged.
        #expect(run.checked(red, checks: 3, at: "t9") == .none)
        #expect(run.checked(.green("ok"), checks: 3, at: "t10") == .none)
        #expect(run.trip == GuardTrip(time: "t8", figures: "x (3 checks in a row)"))
        run.acknowledged()
        #expect(!run.tripped)
    }

    @Test func fastTripAtTenAndNine() {
        // 10 transport failures in a row trip at once, with few requests and no checks.
        let ten = errors.check(new: .init(requests: 12, errors: 10, transportFailures: 10, streak: 10), old: .init(requests: 40))
        #expect(ten.word == "fast trip")
        var run = GuardRun()
        #expect(run.checked(ten, checks: 3, at: "t") == .trip(figures: ten.figures))
        // A run the sampler did not see at its height still counts.
        #expect(errors.check(new: .init(requests: 30, errors: 10, transportFailures: 10, streak: 0, streakRuns: 1), old: .init()).word == "fast trip")
        let nine = errors.check(new: .init(requests: 12, errors: 9, transportFailures: 9, streak: 9), old: .init(requests: 40))
        #expect(nine.word == "insufficient data")
        var off = errors
        off.fastTrip = false
        #expect(off.check(new: .init(requests: 12, errors: 10, transportFailures: 10, streak: 10), old: .init()).word == "insufficient data")
        // A stale streak with no failures left in the window does not trip.
        #expect(errors.check(new: .init(requests: 100, transportFailures: 0, streak: 10), old: .init(requests: 100)).word == "green")
        // The old side failing in a row as well (a firewall both share): no fast trip; the
        // ratio rule judges, and both failing alike is green.
        let bothDown = errors.check(new: .init(requests: 100, errors: 100, transportFailures: 100, streak: 100),
                                    old: .init(requests: 900, errors: 900, transportFailures: 900, streak: 900))
        #expect(bothDown.word == "green", "\(bothDown)")
    }

    @Test func latencyThresholds() {
        // 100 requests, p95 300 ms vs 150 ms: 2× and +150 ms → red.
        #expect(latency.check(new: .init(requests: 100, p95Microseconds: 300_000), old: .init(requests: 100, p95Microseconds: 150_000)).word == "red")
        // 99 requests: insufficient.
        #expect(latency.check(new: .init(requests: 99, p95Microseconds: 300_000), old: .init(requests: 100, p95Microseconds: 150_000)).word == "insufficient data")
        // +149 ms: green, though 2×.
        #expect(latency.check(new: .init(requests: 100, p95Microseconds: 298_000), old: .init(requests: 100, p95Microseconds: 149_000)).word == "green")
        // 1.5× exactly and +150: red; 1.49×: green though +150 and more.
        #expect(latency.check(new: .init(requests: 100, p95Microseconds: 450_000), old: .init(requests: 100, p95Microseconds: 300_000)).word == "red")
        #expect(latency.check(new: .init(requests: 100, p95Microseconds: 447_000), old: .init(requests: 100, p95Microseconds: 300_000)).word == "green")
        // No old side to compare with: insufficient, never green.
        #expect(latency.check(new: .init(requests: 500, p95Microseconds: 900_000), old: .init()).word == "insufficient data")
    }

    @Test func clientErrorThreshold() {
        // 5 pt above: red; 4.9: green.
        #expect(clientErrors.check(new: .init(requests: 1000, clientErrors: 70), old: .init(requests: 1000, clientErrors: 20)).word == "red")
        #expect(clientErrors.check(new: .init(requests: 1000, clientErrors: 69), old: .init(requests: 1000, clientErrors: 20)).word == "green")
    }

    @Test func lowTrafficNeverGreen() {
        for requests in [0, 1, 10, 49] as [UInt64] {
            let verdict = errors.check(new: .init(requests: requests), old: .init(requests: 1000))
            #expect(verdict.word == "insufficient data")
            #expect(!verdict.isGreen)
        }
    }

    @Test func optionsOutOfRangeAreRefused() {
        var config = errors
        #expect(config.set("points", "0") != nil)
        #expect(config.set("points", "101") != nil)
        #expect(config.set("points", "0.5") == nil && config.points == 0.5)
        #expect(config.set("times", "0.9") != nil)
        #expect(config.set("window", "301s") != nil)
        #expect(config.set("window", "10s") == nil && config.windowSeconds == 10)
        #expect(config.set("min", "0") != nil)
        #expect(config.set("checks", "nope") != nil)
        if case .failure(let problem) = GuardConfig.parse(["e", "errors", "new", "cloud", "old", "legacy", "revert", "above", "10ms"], route: "app") {
            #expect(problem.word == 7)
        } else {
            Issue.record("above is not an errors option")
        }
        if case .success(let parsed) = GuardConfig.parse(["e", "errors", "new", "cloud", "old", "legacy", "freeze", "points", "2", "checks", "5"], route: "app") {
            #expect(parsed.mode == .freeze && parsed.points == 2 && parsed.checks == 5)
            #expect(parsed.text == "guard e errors new cloud old legacy freeze points 2 checks 5")
        } else {
            Issue.record("a good guard was refused")
        }
    }

    @Test func revertTargetIsBeforeTheRamp() {
        let route = RouteConfig(name: "app", split: [.init(backend: "legacy", basisPoints: 10_000), .init(backend: "cloud", basisPoints: 0)])
        func state(_ cloud: Int) -> RuntimeState {
            RuntimeState(routes: ["app": RouteRuntime(split: [.init(backend: "legacy", basisPoints: 10_000 - cloud), .init(backend: "cloud", basisPoints: cloud)])])
        }
        let history: [(generation: UInt64, state: RuntimeState)] = [(1, RuntimeState()), (2, state(500)), (3, state(500)), (4, state(2500))]
        let target = RevertTarget.find(route: route, newSide: "cloud", generations: history)
        #expect(target?.generation == 1)
        #expect(route.share(of: "cloud", under: target?.runtime ?? nil) == 0)
        // A lowering after a raise: back to before the latest raise run only.
        let later = history + [(5, state(1000)), (6, state(2000))]
        #expect(RevertTarget.find(route: route, newSide: "cloud", generations: later)?.generation == 5)
    }
}
