import Foundation
import Glibc
import Testing
import SwitchyardAdmin
import SwitchyardSystem
import SwitchyardTestSupport

/// A write that arrives while a release is still sending the parked ones waits behind them
/// (`DrainGate`): a browser's newer autosave must not reach the database before the older
/// one that waited through the freeze, or the older one overwrites it.
@Suite struct HoldDrainOrderTests {
    @Test func aWriteDuringTheReleaseWaitsBehindTheParkedOnesOnEveryWorker() throws {
        // Two workers: the parked writes and the new ones sit in both queues, and the
        // release goes by arrival order across them.
        let h = try AdminHarness(routes: HoldSupport.routes, workers: 2)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        var pending = try HoldSupport.send(h, (0..<4).map { "/notes/\($0)" })
        let release = try HoldSupport.releaseUnderWay(h)
        // Reads and the excepted path do not wait for the queue.
        let reader = try TestClient(port: h.port)
        #expect(reader.get("/notes/0")?.status == 200)
        #expect(HoldSupport.post(reader, "/login", body: "user")?.text.hasPrefix("legacy answered POST /login") == true)
        pending += try HoldSupport.send(h, (4..<6).map { "/notes/\($0)" }, to: "join the queue", counted: { $0.joinedTotal })
        let statuses = try pending.map { try $0.wait(seconds: 20)?.status }
        #expect(statuses == Array(repeating: 200, count: 6), "no write was refused: \(statuses)")
        let order = HoldSupport.notesOrder(h.legacy)
        #expect(order == Array(0..<6), "the new writes reached the backend after the parked ones: \(order)")
        let answer = try release.wait(seconds: 20)
        #expect(answer.ok, "\(answer.text)")
        #expect(answer.text.contains("4 parked write(s) sent upstream"), "\(answer.text)")
        #expect(answer.text.contains("then 2 write(s) that came meanwhile and waited behind them"), "\(answer.text)")
        // The release is over: a write goes straight upstream again.
        let after = try TestClient(port: h.port)
        #expect(HoldSupport.post(after, "/notes/6")?.status == 200)
        let snapshot = h.proxy.holdSnapshot()
        #expect(snapshot.parked == 0 && snapshot.joinedTotal == 2 && snapshot.joinedOutstanding == 0, "\(snapshot)")
    }

    /// The queue keeps the backend's load what it was: each write that joins lets one more
    /// go at once, beyond the pace. Six parked and five joined at 1/s are eleven releases;
    /// the pace alone needs ten seconds for them, with the joiners' five it needs five. And
    /// the queue stays in order to its end: a write that comes after the hold's last one
    /// was sent still waits behind the joiners queued before it.
    @Test func eachWriteThatJoinsLetsOneMoreGoSoTheQueueIsNoSlowerThanBefore() throws {
        let h = try AdminHarness(routes: HoldSupport.routes, workers: 1)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        var pending = try HoldSupport.send(h, (0..<6).map { "/notes/\($0)" })
        let started = Clock.monotonicMilliseconds()
        let release = try HoldSupport.releaseUnderWay(h)
        pending += try HoldSupport.send(h, (6..<10).map { "/notes/\($0)" }, to: "join the queue", counted: { $0.joinedTotal })
        // Every write the hold parked was sent, but joiners are still queued: a newer write
        // still waits behind them (before, the gate opened here and it went straight up).
        try waitFor("the last parked write to be sent", seconds: 10) { HoldSupport.seen(h.legacy, "POST", "/notes/5") == 1 }
        #expect(h.proxy.holdSnapshot().parked > 0, "joiners are still queued")
        let status = h.run("status").text
        #expect(status.contains("waited behind a release 4"), "\(status)")
        let late = Handed(try TestClient(port: h.port))
        pending.append(Background { HoldSupport.post(late.client, "/notes/10") })
        for p in pending { #expect(try p.wait(seconds: 20)?.status == 200) }
        let answer = try release.wait(seconds: 20)
        let seconds = Double(Clock.monotonicMilliseconds() - started) / 1000
        #expect(answer.ok, "\(answer.text)")
        // A lower bound the old pace cannot beat (nine seconds), with room for a slow host.
        #expect(seconds < 8, "the release took \(seconds)s: the joiners did not speed it")
        let order = HoldSupport.notesOrder(h.legacy)
        #expect(order == Array(0..<11), "\(order)")
    }

    /// An HTTP/2 stream's write waits behind the queue as an HTTP/1.1 write does (its
    /// decoded head kept while it waits), and goes after the parked ones.
    @Test func anHTTP2WriteDuringTheReleaseWaitsBehindTheParkedOnes() throws {
        try requireTools("curl")
        let routes = HoldSupport.routes.replacingOccurrences(of: "listen http 127.0.0.1:0", with: "listen http 127.0.0.1:0 h2c")
        let h = try AdminHarness(routes: routes, workers: 1)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let pending = try HoldSupport.send(h, (0..<3).map { "/notes/\($0)" })
        let release = try HoldSupport.releaseUnderWay(h)
        let port = h.port
        let stream = Background {
            (try? runProcess(try tool("curl"), ["-s", "--http2-prior-knowledge", "-d", "note 3", "-w", "\n%{http_code}",
                                                 "http://127.0.0.1:\(port)/notes/3"], timeoutSeconds: 30))?.output ?? ""
        }
        try waitFor("the stream to join the queue", seconds: 5) { h.proxy.holdSnapshot().joinedTotal == 1 }
        for p in pending { #expect(try p.wait(seconds: 20)?.status == 200) }
        let answer = try stream.wait(seconds: 20)
        #expect(answer.hasPrefix("legacy answered POST /notes/3") && answer.hasSuffix("\n200"), "\(answer)")
        #expect(try release.wait(seconds: 20).ok)
        let order = HoldSupport.notesOrder(h.legacy)
        #expect(order == Array(0..<4), "\(order)")
        #expect(h.proxy.holdSnapshot().joinedOutstanding == 0)
    }

    /// Each release paces its own routes' queue. Before, a release waited for every
    /// released route's queue to empty, and so did its routes' gates: a new write on
    /// `notes`, released at once, waited behind `app`'s queue paced at 1/s.
    @Test func aReleaseDoesNotWaitForAnotherRoutesQueue() throws {
        let routes = HoldSupport.routes.replacingOccurrences(of: "route app {", with: "route notes {\n    path /notes/\n    active cloud\n}\nroute app {")
        let h = try AdminHarness(routes: routes, workers: 1)
        defer { h.stop() }
        #expect(h.run("hold all").ok)
        let pending = try HoldSupport.send(h, ["/orders/0", "/orders/1", "/orders/2", "/orders/3", "/orders/4", "/notes/0"])
        let slow = try HoldSupport.releaseUnderWay(h, firstSent: "/orders/")
        let started = Clock.monotonicMilliseconds()
        let notes = h.run("release notes")
        #expect(notes.ok && notes.text.contains("released: notes; 1 parked write(s) sent upstream"), "\(notes.text)")
        #expect(try pending[5].wait(seconds: 5)?.text.hasPrefix("cloud answered POST /notes/0") == true)
        // A new write on notes goes straight up while app's queue is still paced.
        let writer = try TestClient(port: h.port)
        #expect(HoldSupport.post(writer, "/notes/1")?.text.hasPrefix("cloud answered POST /notes/1") == true)
        let seconds = Double(Clock.monotonicMilliseconds() - started) / 1000
        #expect(h.proxy.holdSnapshot().parked > 0, "app's queue was still being paced")
        #expect(seconds < 2.5, "notes waited \(seconds)s: behind app's queue (four more at 1/s)")
        for p in pending.prefix(5) { #expect(try p.wait(seconds: 20)?.status == 200) }
        #expect(try slow.wait(seconds: 20).ok)
    }

    /// Two releases running at once: each is paced by its own rate, credited only for the
    /// writes that joined its own routes' queues, and reports its own counts. Before, both
    /// counted every worker's joiners and sends: `notes` took `app`'s five joiners as its
    /// credit (its six went in about a second, not five) and both answers counted the
    /// other's writes.
    @Test func twoReleasesAtOnceEachCountOnlyTheirOwnWrites() throws {
        let routes = HoldSupport.routes.replacingOccurrences(of: "route app {", with: "route notes {\n    path /notes/\n    active cloud\n}\nroute app {")
        let h = try AdminHarness(routes: routes, workers: 1)
        defer { h.stop() }
        #expect(h.run("hold all").ok)
        var pending = try HoldSupport.send(h, (0..<6).map { "/orders/\($0)" } + (0..<6).map { "/notes/\($0)" })
        let started = Clock.monotonicMilliseconds()
        let app = Background { h.run("release app --rate 1/s") }
        let notes = Background { () -> ((ok: Bool, text: String), Double) in
            let answer = h.run("release notes --rate 1/s")
            return (answer, Double(Clock.monotonicMilliseconds() - started) / 1000)
        }
        try waitFor("app's first write to be sent", seconds: 5) { HoldSupport.seen(h.legacy, "POST", "/orders/") >= 1 }
        pending += try HoldSupport.send(h, (6..<11).map { "/orders/\($0)" }, to: "join app's queue", counted: { $0.joinedTotal })
        for p in pending { #expect(try p.wait(seconds: 20)?.status == 200) }
        let (notesAnswer, notesSeconds) = try notes.wait(seconds: 20)
        let appAnswer = try app.wait(seconds: 20)
        #expect(notesAnswer.text.contains("released: notes; 6 parked write(s) sent upstream"), "\(notesAnswer.text)")
        #expect(!notesAnswer.text.contains("then "), "\(notesAnswer.text)")
        #expect(appAnswer.text.contains("released: app; 6 parked write(s) sent upstream"), "\(appAnswer.text)")
        #expect(appAnswer.text.contains("then 5 write(s) that came meanwhile"), "\(appAnswer.text)")
        // Six at 1/s: the first at once, the last five seconds later. A lower bound, which a
        // slow host cannot break.
        #expect(notesSeconds >= 4, "notes' release took \(notesSeconds)s: paced faster than 1/s")
        let order = HoldSupport.seenOrder(h.legacy, "/orders/")
        #expect(order == Array(0..<11), "\(order)")
    }

    /// A hold that comes back while a release still drains takes the writes still queued,
    /// and answers them by its own max-wait. Before, a write that waited behind the
    /// release kept its 310 s bound: ops had said two seconds.
    @Test func aHoldThatComesBackAnswersTheQueuedWritesByItsOwnMaxWait() throws {
        let h = try AdminHarness(routes: HoldSupport.routes, workers: 1)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let parked = try HoldSupport.send(h, (0..<6).map { "/notes/\($0)" })
        let release = try HoldSupport.releaseUnderWay(h)
        let joiner = try HoldSupport.send(h, ["/notes/6"], to: "join the queue", counted: { $0.joinedTotal })[0]
        let again = h.run("hold app --max-wait 2s")
        #expect(again.ok, "\(again.text)")
        let heldAt = Clock.monotonicMilliseconds()
        let answer = try joiner.wait(seconds: 20)
        let seconds = Double(Clock.monotonicMilliseconds() - heldAt) / 1000
        #expect(answer?.status == 503, "\(String(describing: answer?.text))")
        #expect(seconds < 10, "the joiner was answered \(seconds)s after the hold, not by its 2 s max-wait")
        // The parked writes the release had not sent yet are the new hold's too.
        let statuses = try parked.map { try $0.wait(seconds: 20)?.status }
        #expect(statuses.contains(503) && statuses.allSatisfy { $0 == 200 || $0 == 503 }, "\(statuses)")
        #expect(try release.wait(seconds: 20).ok)
        #expect(!HoldSupport.notesOrder(h.legacy).contains(6), "the joiner was sent upstream")
        let snapshot = h.proxy.holdSnapshot()
        #expect(snapshot.parked == 0 && snapshot.joinedOutstanding == 0, "\(snapshot)")
        #expect(h.run("release app").ok)
    }
}
