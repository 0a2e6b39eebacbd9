import Foundation
import Glibc
import SwitchyardSystem
import Testing
import SwitchyardOrigin
import SwitchyardTestSupport

/// Cut off from etcd: the instance says DETACHED, keeps serving its last generation with no
/// failed request, refuses changes, and after the members return catches up and says synced.
/// (Part of the serialized `FleetTests`: two etcd clusters at once would only slow both.)
extension FleetTests {
    @Suite struct FleetOutageTests {
        @Test func losingQuorumDetachesKeepsServingRefusesChangesThenResyncs() throws {
            let fixture = try FleetFixture()
            defer { fixture.shutdown() }
            #expect(fixture.a.command("flip app").contains("every live instance"))
            let generation = try #require(fixture.a.generation())
            let port = try fixture.a.port()
            // Every instance's view is fresh before the outage, so the transcript shows what an
            // operator would see after a quiet while: everyone synced at this generation.
            try waitFor("the views to list three synced instances", seconds: 10) {
                fixture.instances.allSatisfy { instance in
                    instance.command("status").split(separator: "\n").filter { $0.contains(" synced ") && $0.contains(" \(generation) ") }.count == 3
                }
            }

            // Clients keep coming to A through the outage.
            let failures = Locked(0), served = Locked(0), running = Locked(true)
            let clients = Thread {
                while running.withLock({ $0 }) {
                    if let client = try? TestClient(port: port), let response = client.get("/"), response.status == 200,
                       response.text.hasPrefix("cloud") {
                        served.withLock { $0 += 1 }
                    } else {
                        failures.withLock { $0 += 1 }
                    }
                    usleep(20_000)
                }
            }
            clients.start()

            let stoppedAt = Date()
            fixture.cluster.stop(1)
            fixture.cluster.stop(2)
            try waitFor("a to say DETACHED", seconds: 8) { fixture.a.command("status").contains("DETACHED since") }
            let took = Date().timeIntervalSince(stoppedAt)
            #expect(took <= 6.5, "detached after \(took) s")
            let detached = fixture.a.command("status")
            #expect(detached.contains("serving generation \(generation)"))
            print("--- 2 of 3 etcd members stopped; a detached after \(String(format: "%.1f", took)) s")
            for instance in fixture.instances {
                print("$ switchyard status   # on \(instance.name)\n" + instance.command("status").split(separator: "\n").prefix(7).joined(separator: "\n"))
            }
            let refusal = fixture.a.command("flip app")
            #expect(refusal.contains("not applied anywhere"), "\(refusal)")
            #expect(fixture.b.command("weight other cloud 30%").contains("not applied anywhere"))
            #expect(fixture.a.command("json status").contains("\"detached_since\""))
            let metrics = fixture.a.adminHTTP("/metrics") ?? ""
            #expect(metrics.contains("switchyard_fleet_detached{fleet=\"clinic\"} 1"), "\(metrics.prefix(300))")
            #expect(fixture.a.adminHTTP("/status.json")?.contains("\"detached_since\"") == true)
            // The cutover page (headless Chromium) says it too.
            try requireTools("chromium")
            let pagePort = try #require(fixture.a.pagePort)
            let page = try CutoverPageTests.chromium("http://127.0.0.1:\(pagePort)/", extra: ["--dump-dom"])
            #expect(page.contains("instance a: DETACHED since"), "\(page.prefix(1200))")
            #expect(CutoverPageTests.scriptErrors(page).isEmpty)
            #expect(fixture.a.generation() == generation)

            try fixture.cluster.start(1)
            try fixture.cluster.start(2)
            try waitFor("every instance to say synced again", seconds: 20) { fixture.instances.allSatisfy { $0.isSynced } }
            // And A's view of the fleet is fresh again: every instance listed as synced.
            try waitFor("a to list the three as synced", seconds: 10) {
                fixture.a.command("status").split(separator: "\n").filter { $0.contains(" synced ") && $0.contains(" \(generation) ") }.count == 3
            }
            print("--- the members are back")
            for instance in fixture.instances {
                print("$ switchyard status   # on \(instance.name)\n" + instance.command("status").split(separator: "\n").prefix(7).joined(separator: "\n"))
            }
            #expect(fixture.a.adminHTTP("/metrics")?.contains("switchyard_fleet_detached{fleet=\"clinic\"} 0") == true)
            running.withLock { $0 = false }
            usleep(100_000)
            #expect(failures.withLock { $0 } == 0, "no client request failed during the outage")
            #expect(served.withLock { $0 } > 50)
            #expect(fixture.a.command("flip app").contains("every live instance serves generation \(generation + 1)"))
        }

        @Test func aStoreThatAnswersNothingDetachesAfterFiveSeconds() throws {
            let fixture = try FleetFixture(instanceNames: ["a", "b"])
            defer {
                for index in fixture.cluster.members.indices { fixture.cluster.freeze(index, false) }
                fixture.shutdown()
            }
            // Every member frozen: no "no leader", no refused connection, only silence.
            let frozenAt = Date()
            for index in fixture.cluster.members.indices { fixture.cluster.freeze(index, true) }
            try waitFor("a to say DETACHED", seconds: 9) { fixture.a.command("status").contains("DETACHED since") }
            let took = Date().timeIntervalSince(frozenAt)
            #expect(took >= 4.5 && took <= 6.5, "detached after \(took) s, the rule is 5 s without a successful call")
            #expect(fixture.a.command("status").contains("no successful call for 5 s"))
            #expect(fixture.a.answeredBy() == "legacy", "still serving")
            for index in fixture.cluster.members.indices { fixture.cluster.freeze(index, false) }
            try waitFor("a and b synced again", seconds: 15) { fixture.instances.allSatisfy { $0.isSynced } }
            #expect(fixture.a.command("flip app").contains("every live instance serves"))
        }

        @Test func anUnreachableStoreAtStartStartsDetachedFromTheLocalFile() throws {
            let directory = NSTemporaryDirectory() + "switchyard-fleet-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let legacy = try OriginServer(name: "legacy"), cloud = try OriginServer(name: "cloud")
            legacy.start(); cloud.start()
            defer { legacy.stop(); cloud.stop() }
            let instance = try FleetInstance(name: "lonely", parent: directory, fleet: "clinic", endpoints: ["http://127.0.0.1:\(freePort())"],
                                             legacy: legacy.port, cloud: cloud.port)
            // A state file from an earlier run: generation 7, app flipped to cloud.
            try """
            {"generation":7,"history":[],"state":{"routes":{"app":{"active":"cloud","standby":"legacy"}}}}
            """.write(toFile: instance.directory + "/state.json", atomically: true, encoding: .utf8)
            try instance.start()
            defer { instance.stop() }
            try waitFor("lonely to say DETACHED", seconds: 5) { instance.command("status").contains("DETACHED since") }
            #expect(instance.generation() == 7)
            #expect(instance.answeredBy() == "cloud", "serves its local state")
            #expect(instance.command("flip app").contains("not applied anywhere"))
        }
    }
}
