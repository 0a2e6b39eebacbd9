import Foundation
import Glibc
import SwitchyardSystem
import Testing
import SwitchyardTestSupport

/// Fleet mode on a real 3-member etcd cluster with three `switchyard serve` processes: a
/// change typed on one is served by all, races have one winner per generation, and the
/// audit chain in the store has no gap.
@Suite(.serialized) struct FleetTests {
    @Test func aFlipOnOneInstanceIsServedByAllAndTheSkewIsMeasured() throws {
        let fixture = try FleetFixture()
        defer { fixture.shutdown() }
        for instance in fixture.instances { #expect(instance.answeredBy() == "legacy", "\(instance.name) before the flip") }
        let start = try #require(fixture.a.generation())

        let answer = fixture.a.command("flip app --reason CHG-1")
        #expect(answer.contains("generation \(start + 1): app active legacy → cloud"), "\(answer)")
        #expect(answer.contains("every live instance serves generation \(start + 1)"), "\(answer)")
        // Once A answered, every instance serves the new generation, with no wait.
        for instance in fixture.instances {
            #expect(instance.generation() == start + 1, "\(instance.name)")
            #expect(instance.answeredBy() == "cloud", "\(instance.name) after the flip")
        }

        // Skew: the last instance's apply time − the commit time, per flip.
        let flips = Int(ProcessInfo.processInfo.environment["SWITCHYARD_FLEET_FLIPS"] ?? "") ?? 20
        var skews: [Double] = []
        for i in 0..<flips {
            let text = fixture.a.command("flip app")
            let generation = start + 2 + UInt64(i)
            #expect(text.contains("every live instance serves generation \(generation)"), "\(text)")
            let state = try fixture.storeState()
            let committed = try #require(state["committedAtMilliseconds"] as? Double)
            let records = try fixture.cluster.objects(fixture.keys + "instances/")
            #expect(records.count == 3)
            let applied = records.compactMap { $0["appliedAtMilliseconds"] as? Double }
            #expect(records.allSatisfy { ($0["generation"] as? Double).map(UInt64.init) == generation }, "\(records)")
            skews.append((applied.max() ?? committed) - committed)
        }
        skews.sort()
        let p50 = skews[skews.count / 2], p99 = skews[min(skews.count - 1, Int(Double(skews.count) * 0.99))]
        print("fleet apply skew over \(flips) flips (last instance's apply − commit): p50 \(p50) ms, p99 \(p99) ms, max \(skews.last ?? 0) ms")

        // The store's audit trail: one record per generation, none missing.
        let audit = try fixture.cluster.objects(fixture.keys + "audit/")
        let generations = audit.compactMap { ($0["generation"] as? Double).map(UInt64.init) }
        #expect(generations == Array((start + 1)...(start + 1 + UInt64(flips))), "\(generations)")
        #expect(audit.first?["reason"] as? String == "CHG-1")
        #expect(audit.first?["instance"] as? String == "a")
        // B's own audit log and history record the change it applied.
        let bAudit = try String(contentsOfFile: fixture.b.directory + "/audit.log", encoding: .utf8)
        #expect(bAudit.contains("flip app --reason CHG-1 (fleet, via a)"))
        #expect(fixture.b.command("history").contains("flip app (fleet, via a)"), "history shows the last 50")
    }

    @Test func concurrentChangesOnTwoInstancesHaveOneWinnerPerGeneration() throws {
        let fixture = try FleetFixture()
        defer { fixture.shutdown() }
        let start = try #require(fixture.a.generation())
        let answers = Locked<[String]>([])
        let threads = [fixture.a, fixture.b].enumerated().map { index, instance in
            Thread {
                for i in 0..<10 {
                    let text = instance.command("weight other cloud \(11 + index * 40 + i)%")
                    answers.withLock { $0.append(text) }
                }
            }
        }
        for thread in threads { thread.start() }
        try waitFor("both streams of changes", seconds: 60) { answers.withLock { $0.count } == 20 }
        let all = answers.withLock { $0 }
        let accepted = all.filter { $0.contains("every live instance serves generation") }
        let conflicts = all.filter { $0.contains("conflict: the fleet is at generation") && $0.contains(", retry") }
        #expect(accepted.count + conflicts.count == 20, "every answer is a win or a conflict: \(all)")
        #expect(accepted.count >= 10)
        print("concurrent changes: \(accepted.count) accepted, \(conflicts.count) conflicts")
        let final = start + UInt64(accepted.count)
        let audit = try fixture.cluster.objects(fixture.keys + "audit/")
        #expect(audit.compactMap { ($0["generation"] as? Double).map(UInt64.init) } == Array((start + 1)...final), "no gap, no double")
        #expect(audit.allSatisfy { ($0["generationBefore"] as? Double).map(UInt64.init)! + 1 == ($0["generation"] as? Double).map(UInt64.init)! })
        // Every instance ends on the same generation and the same routing.
        try waitFor("every instance at generation \(final)", seconds: 5) {
            fixture.instances.allSatisfy { $0.generation() == final }
        }
        let routing = fixture.instances.map { $0.command("show routes") }
        #expect(Set(routing).count == 1, "\(routing)")
    }

    @Test func killedInstanceStartsFromItsFileThenCatchesUpAndAGoneOneIsShown() throws {
        let fixture = try FleetFixture()
        defer { fixture.shutdown() }
        let start = try #require(fixture.a.generation())
        fixture.c.kill9()
        let answer = fixture.a.command("flip app")
        // C's lease is still alive: A names it as lagging after a second.
        #expect(answer.contains("not yet acknowledged after 1 s by c (generation \(start))"), "\(answer)")
        #expect(fixture.a.command("weight other cloud 50%").contains("generation \(start + 2)"))
        // After the lease ran out, C shows as gone.
        try waitFor("a to list c as gone", seconds: 12) { fixture.a.command("status").contains("gone") }
        print("status on a while c is down:\n" + fixture.a.command("status").split(separator: "\n").prefix(7).joined(separator: "\n"))

        try fixture.c.start()
        // It started from its own file (the generation before), then caught up.
        // (The line may land a moment after the admin socket answers: wait for it.)
        try waitFor("c to log the generation it started from", seconds: 10) {
            fixture.c.errorLog.contains("(generation \(start))")
        }
        try waitFor("c to catch up", seconds: 10) { fixture.c.generation() == start + 2 && fixture.c.isSynced }
        #expect(fixture.c.answeredBy() == "cloud")
        try waitFor("a to see c back", seconds: 3) { !fixture.a.command("status").contains("gone") }
        // C never applied start + 1 (it was down): `revert to` finds it in the store's history.
        #expect(!fixture.c.command("history").contains("\n\(start + 1)  "))
        // One that commits nothing (the routing in force is start + 1's again) leaves C's
        // history as it was: before, the entry fetched for it stayed, and the next state
        // file C wrote kept a generation no command of C's had made.
        #expect(fixture.a.command("weight other cloud 10%").contains("generation \(start + 3)"))
        try waitFor("c to apply it", seconds: 10) { fixture.c.generation() == start + 3 }
        let unchanged = fixture.c.command("revert to \(start + 1)")
        #expect(unchanged.contains("nothing changed"), "\(unchanged)")
        #expect(!fixture.c.command("history").contains("\n\(start + 1)  "), "the fetched entry was taken back")
        #expect(fixture.a.command("weight other cloud 50%").contains("generation \(start + 4)"))
        try waitFor("c to apply it", seconds: 10) { fixture.c.generation() == start + 4 }
        let revert = fixture.c.command("revert to \(start + 1)")
        #expect(revert.contains("state of generation \(start + 1) restored"), "\(revert)")
        #expect(revert.contains("every live instance serves generation \(start + 5)"), "\(revert)")
        #expect(fixture.c.command("history").contains("\n\(start + 1)  "), "committed: the entry stays")
    }

    @Test func aStateThatDoesNotParseOrDoesNotFitIsRejectedAndTheLastGoodKept() throws {
        let fixture = try FleetFixture()
        defer { fixture.shutdown() }
        #expect(fixture.a.command("flip app").contains("every live instance"))
        let good = try #require(fixture.b.generation())
        try fixture.cluster.etcdctl(["put", fixture.keys + "state", "this is not json"])
        try waitFor("b to reject the document", seconds: 5) { fixture.b.command("status").contains("REJECTED") }
        #expect(fixture.b.command("status").contains("does not parse"))
        #expect(fixture.b.generation() == good)
        #expect(fixture.b.answeredBy() == "cloud", "the last good table serves")
        #expect(fixture.a.command("flip app").contains("does not parse"), "no change on top of a broken store")

        // A key written by hand with a wrong type.
        try fixture.cluster.etcdctl(["put", fixture.keys + "state", "{\"generation\": \"ninety\"}"])
        try waitFor("b to say which field", seconds: 5) { fixture.b.command("status").contains("generation") && fixture.b.command("status").contains("REJECTED") }

        // Parses, but names a backend this host's routes file lacks.
        var document = try require2(try fixture.cluster.get(fixture.keys + "history/" + String(format: "%020llu", good)), "history")
        document = document.replacingOccurrences(of: "\"generation\":\(good)", with: "\"generation\":\(good + 5)")
            .replacingOccurrences(of: "\"active\":\"cloud\"", with: "\"active\":\"nowhere\"")
        try fixture.cluster.etcdctl(["put", fixture.keys + "state", document])
        try waitFor("b to reject the unknown backend", seconds: 5) { fixture.b.command("status").contains("nowhere") }
        #expect(fixture.b.generation() == good)
        #expect(fixture.c.answeredBy() == "cloud")
        let records = try fixture.cluster.objects(fixture.keys + "instances/")
        #expect(records.allSatisfy { $0["status"] as? String == "rejected" }, "\(records)")
        // The same with a name carrying an escape sequence and a line of its own: rejected
        // for it (no command makes such a name), and nothing of it reaches `status` or the
        // error log raw (before: quoted raw in the rejection, and a cohort value with one
        // applied).
        let forged = document.replacingOccurrences(of: "\"active\":\"nowhere\"", with: "\"active\":\"nowhere\\u001b[2J\\nFORGED fleet line\"")
        try fixture.cluster.etcdctl(["put", fixture.keys + "state", forged])
        try waitFor("b to reject the forged name", seconds: 5) { fixture.b.command("status").contains("control, bidi or format character") }
        let status = fixture.b.command("status")
        #expect(!status.unicodeScalars.contains("\u{1B}") && !status.contains("\nFORGED"), "\(status)")
        #expect(!fixture.b.errorLog.contains("\nFORGED") && !fixture.b.errorLog.unicodeScalars.contains("\u{1B}"))

        // Parses and names known backends, but has a generation no change reaches (one past
        // 2^53; near UInt64.max the next change would overflow). The other ranges:
        // `StateFileRangeTests`, the same check.
        let restored = document.replacingOccurrences(of: "\"active\":\"nowhere\"", with: "\"active\":\"cloud\"")
        let farGeneration = restored.replacingOccurrences(of: "\"generation\":\(good + 5)", with: "\"generation\":9007199254740993")
        try fixture.cluster.etcdctl(["put", fixture.keys + "state", farGeneration])
        try waitFor("b to reject the generation", seconds: 5) { fixture.b.command("status").contains("past 2^53") }
        #expect(fixture.b.generation() == good)
        #expect(fixture.b.answeredBy() == "cloud", "the last good table still serves")
    }
}
