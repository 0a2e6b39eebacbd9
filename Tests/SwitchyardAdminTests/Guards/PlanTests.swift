import Foundation
import Testing
import SwitchyardTestSupport
@testable import SwitchyardAdmin
import SwitchyardRouting
import SwitchyardSystem

/// Plans end to end on real sockets with second-scale steps: a healthy ramp 5 → 25 → 100;
/// a fault at step 2 aborts and reverts; pause holds the clock; a restart resumes paused;
/// approval by the starter is refused; bad plan files change nothing.
@Suite(.serialized) struct PlanTests {
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
            sticky header X-User
            guard errs errors new cloud old legacy revert window 5s min 20
        }
        route db {
            mode tcp
            listen 127.0.0.1:0
            active legacy standby cloud
        }
        plan ramp {
            route app
            cloud 5% for 2s
            cloud 25% for 2s
            cloud 100%
        }
        plan toflip {
            route app
            cloud 60% for 2s
            flip
        }
        plan gated {
            route app
            approve by group root
            cloud 5% for 2s
            cloud 100%
        }
        """

    /// A harness with the guard evaluator and steady load (about 200 requests/s, 160 users).
    final class Rig: @unchecked Sendable {
        let h: AdminHarness
        let evaluator: GuardEvaluator
        let load: ClientLoad
        let failures = OKCounter()

        init(allowUIDs: Set<UInt32> = []) throws {
            h = try AdminHarness(routes: PlanTests.routes, allowUIDs: allowUIDs)
            evaluator = GuardEvaluator(service: h.service, proxy: h.proxy)
            evaluator.start()
            let failures = failures
            load = ClientLoad(clients: 4, port: h.port) { worker, n, client in
                usleep(20_000)
                guard let response = client?.get("/p", headers: "X-User: u\(worker)-\(n % 40)\r\n") else { return false }
                if response.status != 200 { failures.add() }
                return true
            }
        }

        var cloudShare: Int { h.proxy.table.routes[0].split.first { $0.backend == "cloud" }?.basisPoints ?? -1 }

        func stop() {
            try? load.stop()
            evaluator.stop()
            h.stop()
        }
    }

    @Test func healthyRampGoesFiveTwentyFiveHundredGatedByItsGuard() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let h = rig.h
        usleep(500_000)
        let start = h.run("plan start ramp --reason CHG-9")
        #expect(start.ok, "\(start.text)")
        #expect(rig.cloudShare == 500, "step 1 is applied at once")
        var transcript: [String] = []
        let done = waitUntil(40) {
            transcript.append(h.run("plan status ramp").text)
            usleep(1_000_000)
            return h.run("plan status ramp").text.contains(": completed")
        }
        print("plan status during the ramp:\n" + transcript.joined(separator: "\n---\n"))
        #expect(done, "\(h.run("plan status ramp").text)")
        #expect(rig.cloudShare == 10_000)
        #expect(rig.failures.value == 0)
        // Each step is a generation by the plan; the guard gated them (it was green each time).
        let history = h.run("history").text
        for step in 1...3 { #expect(history.contains("plan ramp step \(step)"), "\(history)") }
        #expect(transcript.contains { $0.contains("step 2 of 3: cloud 25% for 2s") })
        #expect(transcript.contains { $0.contains("guard errs: green") || $0.contains("waiting for guards") })
        let audit = h.auditRecords().filter { ($0["user"] as? String)?.hasPrefix("plan ramp step") == true }
        #expect(audit.count == 3)
    }

    /// A plan's `flip` step ends on the plan's new side. A plain flip of a split moves it to
    /// the smaller side, which after `cloud 60%` is legacy: everyone went back.
    @Test func aFlipStepAfterCloudPassedHalfEndsOnCloud() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let h = rig.h
        usleep(500_000)
        #expect(h.run("plan start toflip").ok)
        #expect(rig.cloudShare == 6_000)
        let done = waitUntil(40) {
            usleep(500_000)
            return h.run("plan status toflip").text.contains(": completed")
        }
        #expect(done, "\(h.run("plan status toflip").text)")
        let route = h.proxy.table.routes[0]
        #expect(route.active == "cloud" && route.split.isEmpty, "active \(route.active ?? "-"), split \(route.split)")
        #expect(rig.failures.value == 0)
    }

    /// A plain `flip` of a 50/50 split goes to the second listed side, as its comment and
    /// the README's file order (old side first) say.
    @Test func aPlainFlipOfAnEvenSplitGoesToTheSecondListed() throws {
        let h = try AdminHarness(routes: PlanTests.routes)
        defer { h.stop() }
        #expect(h.run("weight app cloud 50%").ok)
        #expect(h.run("flip app").ok)
        #expect(h.proxy.table.routes[0].active == "cloud")
    }

    /// While an upgrade hands over, plan steps (and guard trips) wait: the old process must
    /// not rewrite the state file the new one has loaded, nor audit a generation the new one
    /// will number again. A given-up upgrade thaws, and the plan goes on.
    @Test func aPlanWaitsWhileAnUpgradeHandsOver() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let h = rig.h
        usleep(500_000)
        #expect(h.run("plan start ramp").ok)
        let generation = h.proxy.table.generation
        let state = try String(contentsOfFile: h.statePath, encoding: .utf8)
        let records = h.auditRecords().count
        h.service.freeze("test: handing over")
        sleep(6)
        #expect(h.proxy.table.generation == generation && rig.cloudShare == 500, "no step while frozen")
        #expect(try String(contentsOfFile: h.statePath, encoding: .utf8) == state)
        #expect(h.auditRecords().count == records)
        h.service.thaw()
        #expect(waitUntil(40) { rig.cloudShare == 10_000 }, "the plan goes on once thawed")
    }

    @Test func aFaultAtStepTwoAbortsAndReverts() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let h = rig.h
        usleep(500_000)
        #expect(h.run("plan start ramp").ok)
        #expect(waitUntil(20) { rig.cloudShare == 2_500 }, "step 2: \(h.run("plan status ramp").text)")
        let fault = Clock.monotonicNanoseconds()
        h.cloud.failingOneIn = 5
        #expect(waitUntil(15) { rig.cloudShare == 0 }, "\(h.run("plan status ramp").text)")
        let seconds = Double(Clock.monotonicNanoseconds() &- fault) / 1e9
        print("plan fault at step 2 → revert: \(String(format: "%.2f", seconds)) s")
        let status = h.run("plan status ramp").text
        #expect(status.contains("aborted") && status.contains("guard errs tripped"), "\(status)")
        #expect(status.contains("TRIPPED"))
        // Aborted: it never goes on, and cannot start again until the guard is acknowledged.
        usleep(2_500_000)
        #expect(rig.cloudShare == 0)
        let again = h.run("plan start ramp")
        #expect(!again.ok && again.text.contains("guard app ack"), "\(again.text)")
        h.cloud.failingOneIn = 0
    }

    @Test func pauseHoldsTheClockAndARestartResumesPaused() throws {
        let rig = try Rig()
        defer { rig.stop() }
        let h = rig.h
        usleep(500_000)
        #expect(h.run("plan start ramp").ok)
        #expect(h.run("plan pause ramp").ok)
        usleep(3_000_000)
        #expect(rig.cloudShare == 500, "paused: still step 1")
        #expect(h.run("plan status ramp").text.contains("paused, step 1 of 3"))
        #expect(!h.run("plan pause ramp").ok, "pausing twice is refused")
        #expect(h.run("plan resume ramp").ok)
        #expect(waitUntil(15) { rig.cloudShare == 2_500 }, "\(h.run("plan status ramp").text)")

        // A restart: a new admin service reads the state file; the plan waits, paused.
        rig.evaluator.stop()
        let saved = try StateFile.load(path: h.statePath)
        #expect(saved?.guards?.plans["ramp"]?.phase == .running)
        let restarted = try h.restartedService()
        let evaluator = GuardEvaluator(service: restarted, proxy: h.proxy)
        evaluator.start()
        defer { evaluator.stop() }
        usleep(3_500_000)
        let status = restarted.execute("plan status ramp", caller: AdminHarness.root).0.text
        print("after restart: \(status)")
        #expect(status.contains("paused, step 2 of 3") && status.contains("paused by a restart"), "\(status)")
        #expect(rig.cloudShare == 2_500, "never advances by itself after a restart")
        #expect(restarted.execute("plan resume ramp", caller: AdminHarness.root).0.ok)
        #expect(waitUntil(15) { rig.cloudShare == 10_000 })
    }

    @Test func approvalNeedsAnotherPersonOfTheGroup() throws {
        let rig = try Rig(allowUIDs: [4242, 4343])
        defer { rig.stop() }
        let h = rig.h
        let started = h.run("plan start gated")
        #expect(started.ok && started.text.contains("awaiting approval"), "\(started.text)")
        #expect(rig.cloudShare == 0, "nothing moves before approval")
        let same = h.run("plan approve gated")
        #expect(!same.ok && same.text.contains("cannot approve"), "\(same.text)")
        let outsider = h.run("plan approve gated", as: Caller(uid: 4343, gid: 4343, pid: 1, userName: "outsider"))
        #expect(!outsider.ok && outsider.text.contains("not in group root"), "\(outsider.text)")
        let approved = h.run("plan approve gated", as: Caller(uid: 4242, gid: 0, pid: 1, userName: "approver"))
        #expect(approved.ok, "\(approved.text)")
        #expect(rig.cloudShare == 500)
        #expect(h.run("plan status gated").text.contains("approved by uid 4242"))
        #expect(h.auditRecords().contains { $0["command"] as? String == "plan approve gated" && $0["uid"] as? Int == 4242 })
        #expect(h.run("plan abort gated").ok)
        #expect(rig.cloudShare == 0, "abort restores the route as before the plan")
    }

    @Test func badPlanFilesAreRefusedInOneLineAndChangeNothing() throws {
        let h = try AdminHarness(routes: Self.routes)
        defer { h.stop() }
        let path = h.directory + "/bad.plan"
        for (text, fragment) in [
            ("plan p {\n    route nope\n    cloud 5% for 2s\n}\n", ":2:11: unknown route \"nope\""),
            ("plan p {\n    route app\n    clod 5% for 2s\n}\n", ":3:5: unknown backend \"clod\""),
            ("plan p {\n    route app\n    cloud 25% for 2s\n    cloud 5% for 2s\n}\n", ":4:11: a ramp never lowers cloud"),
            ("plan p {\n    route db\n    cloud 5% for 2s\n}\n", ":2:11: plans are for http routes"),
            ("plan p {\n    route app\n    cloud 5% for 2x\n}\n", ":3:18: bad duration"),
            ("plan p {\n    route app\n    guards nope\n    cloud 5% for 2s\n}\n", ":3:12: route app has no guard \"nope\""),
        ] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let answer = h.run("plan load \(path)")
            #expect(!answer.ok && answer.text.contains(fragment) && !answer.text.contains("\n"), "\(answer.text)")
        }
        #expect(!h.run("plan status p").ok)
        // A FIFO (opening one blocked until a writer came, holding the commit lock: every
        // command and guard check waited) and a sparse file far over 64 KiB (read whole
        // before its size was judged): refused at once, as files of no use.
        let fifo = h.directory + "/fifo.plan"
        #expect(mkfifo(fifo, 0o600) == 0)
        let sparse = h.directory + "/sparse.plan"
        #expect(FileManager.default.createFile(atPath: sparse, contents: nil) && truncate(sparse, 8 << 30) == 0)
        for (file, fragment) in [(fifo, "is not a regular file: refused"), (sparse, "is over 65536 bytes: refused")] {
            let started = Date()
            let answer = Background { h.run("plan load \(file)") }
            let refused = try answer.wait(seconds: 10)
            #expect(!refused.ok && refused.text.contains("plan load: plan file \(file) \(fragment)"), "\(refused.text)")
            #expect(Date().timeIntervalSince(started) < 5)
            #expect(h.run("status").ok, "the commit lock is free")
        }
        try "plan p {\n    route app\n    cloud 10% for 1m\n    flip\n}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = h.run("plan load \(path)")
        #expect(loaded.ok && loaded.text.contains("plan p loaded: route app, cloud 10% for 1m → flip"), "\(loaded.text)")
        #expect(h.run("plan status p").text.contains("plan p (route app, cloud from legacy): idle"))
    }
}
