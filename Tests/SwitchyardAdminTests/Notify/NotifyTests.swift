import Foundation
import Glibc
import Testing
import SwitchyardTestSupport
import SwitchyardAdmin
import SwitchyardOrigin
import SwitchyardSystem

/// `notify` lines: a local HTTP receiver and a script each get exactly one event per change,
/// in order, with its fields; receivers that hang or refuse do not slow the commands down,
/// and what they miss is counted.
@Suite(.serialized) struct NotifyTests {
    static func routes(notify: String) -> String {
        notify + "\n" + """
            listen http 127.0.0.1:0
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route app {
                split legacy 90% cloud 10%
            }
            route auth {
                path /auth/
                active legacy standby cloud
            }
            """
    }

    @Test func aReceiverAndAScriptGetOneEventPerChangeInOrder() throws {
        let receiver = try OriginServer(name: "receiver")
        receiver.start()
        defer { receiver.stop() }
        let directory = NSTemporaryDirectory() + "switchyard-notify-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = directory + "/notify.sh", events = directory + "/events.jsonl"
        try "#!/bin/sh\ncat >> \(events)\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let h = try AdminHarness(routes: Self.routes(notify: "notify post http://127.0.0.1:\(receiver.port)/events\nnotify exec \(script)"))
        defer { h.stop() }
        let commands = ["weight app cloud 20% --reason CHG-1", "flip auth --reason CHG-2", "revert --reason CHG-3",
                        "guard app add errs errors new cloud old legacy revert --reason CHG-4"]
        for command in commands { #expect(h.run(command).ok, "\(command)") }
        #expect(waitUntil(10) { receiver.requestCount >= 4 && ((try? String(contentsOfFile: events, encoding: .utf8))?.split(separator: "\n").count ?? 0) >= 4 })
        usleep(300_000)
        #expect(receiver.requestCount == 4, "exactly one POST per change")
        let posted = receiver.rawRequests.map { raw -> [String: Any] in
            let text = String(decoding: raw, as: UTF8.self)
            #expect(text.hasPrefix("POST /events HTTP/1.1\r\n") && text.contains("Content-Type: application/json"))
            let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            return (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:]
        }
        let lines = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        let executed = lines.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) ?? [:] }
        for received in [posted, executed] {
            #expect(received.map { $0["reason"] as? String } == ["CHG-1", "CHG-2", "CHG-3", "CHG-4"], "in order")
            #expect(received.map { $0["event"] as? String } == ["change", "change", "change", "guard-change"])
            #expect(received.prefix(3).map { $0["generation"] as? Int } == [2, 3, 4])
            #expect(received.prefix(3).map { $0["generation_before"] as? Int } == [1, 2, 3])
            #expect((received.first?["command"] as? String)?.hasPrefix("weight app cloud 20%") == true)
            #expect(received.first?["actor"] as? String == "root")
            #expect((received.first?["changes"] as? [String])?.first?.contains("→") == true, "before → after")
        }
    }

    /// A proxy started without `notify` lines, then reloaded with one: the target starts
    /// (before, the service had no notifier at all and the reload's targets went nowhere
    /// until a restart).
    @Test func aNotifyLineAddedByAReloadIsTold() throws {
        let receiver = try OriginServer(name: "receiver")
        receiver.start()
        defer { receiver.stop() }
        let h = try AdminHarness(routes: Self.routes(notify: ""))
        defer { h.stop() }
        #expect(h.run("weight app cloud 20%").ok)
        let text = try String(contentsOfFile: h.routesPath, encoding: .utf8)
        try ("notify post http://127.0.0.1:\(receiver.port)/events\n" + text).write(toFile: h.routesPath, atomically: true, encoding: .utf8)
        let reload = h.run("reload")
        #expect(reload.ok, "\(reload.text)")
        #expect(h.run("weight app cloud 30% --reason CHG-9").ok)
        #expect(waitUntil(10) { receiver.requestCount >= 2 }, "the reload's target was told")
        usleep(300_000)
        // The reload that named it, then the change after it.
        let bodies = receiver.rawRequests.map { String(decoding: $0, as: UTF8.self) }
        #expect(bodies.count == 2 && bodies[0].contains("\"command\":\"reload\"") && bodies[1].contains("\"CHG-9\""), "\(bodies)")
    }

    @Test func hangingAndRefusingReceiversDoNotSlowCommandsAndAreCounted() throws {
        // A listener nobody accepts on: connects succeed (the backlog), no answer ever comes.
        let hanging = try Socket.listen(on: SocketAddress(ip: "127.0.0.1", port: 0)!, reusePort: false, backlog: 512)
        defer { hanging.close() }
        let hangingPort = try Socket.localAddress(hanging).port
        let h = try AdminHarness(routes: Self.routes(notify: "notify post http://127.0.0.1:\(hangingPort)/x\nnotify post http://127.0.0.1:1/refused"))
        defer { h.stop() }
        var times: [Double] = []
        for i in 0..<300 {
            let started = Clock.monotonicNanoseconds()
            #expect(h.run("weight app cloud \(i % 2 == 0 ? 20 : 10)%").ok)
            times.append(Double(Clock.monotonicNanoseconds() &- started) / 1e6)
        }
        times.sort()
        let median = times[times.count / 2], slowest = times.last!
        print("notify: 300 weight commands with a hanging and a refusing receiver: median \(String(format: "%.1f", median)) ms, slowest \(String(format: "%.1f", slowest)) ms")
        // A command that waited for a delivery would take at least one attempt's timeout
        // (2 s); the rest is the commit's own fsyncs on a machine the tests share.
        #expect(slowest < 2_000, "a command waited for a receiver: \(slowest) ms")
        #expect(median < 200, "commands were slowed: median \(median) ms")
        let notifier = h.service.eventNotifier
        // The hanging target's queue holds 256: the oldest of 300 were dropped and counted.
        #expect(notifier.counters.withLock { $0.dropped } >= 300 - 256 - 2)
        // The refusing one fails after its retries (0.2 + 0.4 + 0.8 s) and is counted.
        #expect(waitUntil(10) { notifier.counters.withLock { $0.failures } >= 2 })
    }

    @Test func planStepsCompletionTripAndAckAreToldInOrder() throws {
        let directory = NSTemporaryDirectory() + "switchyard-notify-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = directory + "/notify.sh", events = directory + "/events.jsonl"
        try "#!/bin/sh\ncat >> \(events)\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        // Cloud refuses connections: its requests are transport failures.
        let routes = Self.routes(notify: "notify exec \(script)").replacingOccurrences(of: "127.0.0.1:CLOUD", with: "127.0.0.1:1")
            + "\nplan quick {\n    route app\n    cloud 15% for 1s\n    cloud 20%\n}\n"
        let h = try AdminHarness(routes: routes)
        defer { h.stop() }
        let evaluator = GuardEvaluator(service: h.service, proxy: h.proxy)
        evaluator.start()
        defer { evaluator.stop() }
        #expect(h.run("plan start quick").ok)
        #expect(waitUntil(10) { h.run("plan status quick").text.contains(": completed") })
        #expect(h.run("guard app add fast errors new cloud old legacy freeze").ok)
        // A guard added at run time judges the traffic from its first sample on: keep sending.
        let client = try TestClient(port: h.port)
        #expect(waitUntil(10) {
            for user in 0..<100 { _ = client.get("/u", headers: "X-User: user\(user)\r\n") }
            return h.run("guards").text.contains("TRIPPED")
        })
        #expect(h.run("guard app ack").ok)
        let kinds = ["plan-start", "plan-step", "plan-step", "plan-completed", "guard-change", "guard-trip", "guard-ack"]
        var received: [[String: Any]] = []
        #expect(waitUntil(10) {
            let lines = (try? String(contentsOfFile: events, encoding: .utf8))?.split(separator: "\n") ?? []
            received = lines.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) ?? [:] }
            return received.count >= kinds.count
        })
        #expect(received.map { $0["event"] as? String ?? "" } == kinds)
        let trip = received.first { $0["event"] as? String == "guard-trip" }
        #expect((trip?["figures"] as? String)?.contains("transport failures in a row") == true, "\(String(describing: trip))")
        #expect(trip?["actor"] as? String == "guard app fast")
        #expect(received.filter { $0["event"] as? String == "plan-step" }.map { $0["actor"] as? String } == ["plan quick step 1", "plan quick step 2"])
    }
}
