import Foundation
import Glibc
import Testing
import SwitchyardTestSupport

/// SIGTERM while writes are parked: a process that stops can never release them, so each
/// is answered 503 "not saved" at once — an HTTP/1.1 request and an HTTP/2 stream alike —
/// and never forwarded. Before, they stayed parked until the end of the grace and were
/// cut (a clinician cannot tell a cut from "maybe saved"), and the stop took the whole
/// grace (10 s) waiting for them.
@Suite(.serialized) struct HoldShutdownTests {
    @Test func parkedWritesAreAnsweredNotSavedAtSIGTERM() throws {
        try requireTools("curl")
        let setup = try UpgradeTests.Setup(listen: "127.0.0.1:0 h2c")
        let (pid, port) = try setup.serve()
        let hold = try runProcess(try switchyardBinary(), ["hold", "app", "--admin", setup.admin])
        #expect(hold.status == 0, "\(hold.output)")
        let writer = Handed(try TestClient(port: port, timeoutSeconds: 30))
        let http1 = Background { HoldSupport.post(writer.client, "/notes/1") }
        let http2 = Background {
            (try? runProcess(try tool("curl"), ["-s", "--http2-prior-knowledge", "-d", "note 2", "-w", "\n%{http_code}",
                                                 "http://127.0.0.1:\(port)/notes/2"], timeoutSeconds: 30))?.output ?? ""
        }
        try waitFor("both writes to park", seconds: 10) { ServeProcessTests.command(setup.admin, "status")?.contains("2 parked") == true }

        let stopped = Date()
        kill(pid, SIGTERM)
        let answer = try http1.wait(seconds: 20)
        #expect(answer?.status == 503 && answer?.text.contains("NOT saved") == true, "\(answer?.text ?? "no answer")")
        let streamed = try http2.wait(seconds: 20)
        #expect(streamed.hasSuffix("\n503") && streamed.contains("NOT saved"), "\(streamed)")
        try waitFor("serve to exit", seconds: 20) { !UpgradeTests.alive(pid) }
        let took = Date().timeIntervalSince(stopped)
        #expect(took < 8, "the stop waited \(took) s: the grace (10 s) for parked writes")
        #expect(HoldSupport.seen(setup.legacy, "POST", "/notes") == 0 && HoldSupport.seen(setup.cloud, "POST", "/notes") == 0,
                "nothing parked was forwarded")
    }

    /// A write that came during a release and waits behind its queue would have gone
    /// straight upstream without the queue: at SIGTERM it goes on (saved), while what the
    /// hold itself parked is answered "not saved" as above.
    @Test func aWriteWaitingBehindAReleaseGoesOnAtSIGTERM() throws {
        let setup = try UpgradeTests.Setup()
        let (pid, port) = try setup.serve()
        // The route splits 90/10: a write may go to either side.
        func sent(_ path: String) -> Bool {
            HoldSupport.seen(setup.legacy, "POST", path) + HoldSupport.seen(setup.cloud, "POST", path) > 0
        }
        let hold = try runProcess(try switchyardBinary(), ["hold", "app", "--admin", setup.admin])
        #expect(hold.status == 0, "\(hold.output)")
        var parked: [Background<TestClient.Response?>] = []
        for i in 0..<3 {
            let writer = Handed(try TestClient(port: port, timeoutSeconds: 30))
            parked.append(Background { HoldSupport.post(writer.client, "/notes/\(i)") })
            try waitFor("write \(i) to park", seconds: 10) { ServeProcessTests.command(setup.admin, "status")?.contains("\(i + 1) parked") == true }
        }
        let admin = setup.admin
        _ = Background { try? runProcess(try switchyardBinary(), ["release", "app", "--rate", "1/s", "--admin", admin], timeoutSeconds: 30) }
        try waitFor("the first parked write to be sent", seconds: 10) { sent("/notes/0") }
        let joiner = Handed(try TestClient(port: port, timeoutSeconds: 30))
        let joined = Background { HoldSupport.post(joiner.client, "/notes/3") }
        // The joiner's credit sends the next parked write at once; it waits behind the last.
        try waitFor("the joiner to let one more go", seconds: 10) { sent("/notes/1") }
        #expect(!sent("/notes/3"), "the joiner waits behind /notes/2")
        kill(pid, SIGTERM)
        let answer = try joined.wait(seconds: 20)
        #expect(answer?.status == 200 && answer?.text.contains("answered POST /notes/3") == true,
                "\(answer.map { "\($0.status) \($0.text)" } ?? "no answer")")
        // The last parked write: "not saved" and never sent, unless the pace sent it first.
        let last = try parked[2].wait(seconds: 20)
        #expect(sent("/notes/2") ? last?.status == 200 : (last?.status == 503 && last?.text.contains("NOT saved") == true),
                "\(last.map { "\($0.status) \($0.text)" } ?? "no answer")")
        try waitFor("serve to exit", seconds: 20) { !UpgradeTests.alive(pid) }
    }
}
