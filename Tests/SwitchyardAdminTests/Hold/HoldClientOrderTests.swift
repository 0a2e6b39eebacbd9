import Foundation
import Glibc
import Testing
@testable import SwitchyardAdmin
import SwitchyardSystem
import SwitchyardTestSupport

/// A release sends one client's writes one at a time (`ReleasePlan`): a browser's newer
/// autosave must not run beside the older one that waited through the freeze, or the
/// database may save them in the wrong order and the older overwrite the newer. A client
/// is its address and its Cookie field (its session).
@Suite struct HoldClientOrderTests {
    /// Polls until the origin has seen a POST to `path`; the time it was first seen.
    static func seenAt(_ h: AdminHarness, _ path: String) throws -> UInt64 {
        try waitFor("POST \(path) to reach the backend", seconds: 10) { HoldSupport.seen(h.legacy, "POST", path) >= 1 }
        return Clock.monotonicMilliseconds()
    }

    @Test func aClientsSecondParkedWriteWaitsForTheAnswerToItsFirst() throws {
        let h = try AdminHarness(routes: HoldSupport.routes, workers: 2)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        // Alice's first write takes the backend a second; her second parked after it, on a
        // connection of its own; Bob's after both.
        var pending = try HoldSupport.send(h, ["/slow?ms=1000&note=0"], cookie: "session=alice")
        pending += try HoldSupport.send(h, ["/notes/1"], cookie: "session=alice")
        pending += try HoldSupport.send(h, ["/notes/2"], cookie: "session=bob")
        let release = Background { h.run("release app") }
        let first = try Self.seenAt(h, "/slow")
        let second = try Self.seenAt(h, "/notes/1")
        for p in pending { #expect(try p.wait(seconds: 20)?.status == 200) }
        #expect(try release.wait(seconds: 20).ok)
        let order = h.legacy.requestHeads.filter { $0.hasPrefix("POST ") }.map { String($0.split(separator: " ")[1]) }
        #expect(order == ["/slow?ms=1000&note=0", "/notes/2", "/notes/1"], "bob's write goes past alice's second: \(order)")
        let waited = Double(second - first) / 1000
        #expect(waited >= 0.8, "alice's second write reached the backend \(waited)s after her first, before its answer")
    }

    @Test func aWriteDuringTheReleaseWaitsForItsClientsParkedWriteToBeAnswered() throws {
        let h = try AdminHarness(routes: HoldSupport.routes, workers: 1)
        defer { h.stop() }
        #expect(h.run("hold app").ok)
        let parked = try HoldSupport.send(h, ["/slow?ms=1000&note=0"], cookie: "session=alice")
        let release = Background { h.run("release app") }
        let first = try Self.seenAt(h, "/slow")
        // Sent once the queue is empty but alice's parked write still runs: it waits for
        // the answer (before, the gate had opened and it went straight up beside it).
        let joiner = try HoldSupport.send(h, ["/notes/1"], to: "join the queue", cookie: "session=alice", counted: { $0.joinedTotal })
        let bob = Handed(try TestClient(port: h.port))
        #expect(HoldSupport.post(bob.client, "/notes/2", cookie: "session=bob")?.status == 200, "bob's write did not wait for alice's")
        let second = try Self.seenAt(h, "/notes/1")
        #expect(try parked[0].wait(seconds: 20)?.status == 200)
        #expect(try joiner[0].wait(seconds: 20)?.status == 200)
        #expect(try release.wait(seconds: 20).ok)
        let waited = Double(second - first) / 1000
        #expect(waited >= 0.8, "alice's newer write reached the backend \(waited)s after her parked one, before its answer")
        #expect(HoldSupport.seen(h.legacy, "POST", "/notes/2") == 1)
    }

    /// A release that gives up (310 s; 1 s here) sends everything left at once, a client's
    /// later write too: nothing loops any more to send it once the earlier one is answered.
    /// Before, it stayed parked until its own bound, then was answered "not saved". Found by
    /// review.
    @Test func aReleaseThatGivesUpSendsAClientsWaitingWriteToo() throws {
        let h = try AdminHarness(routes: HoldSupport.routes, workers: 1)
        defer { h.stop() }
        h.service.holdBook.releaseGiveUpMilliseconds = 1_000
        #expect(h.run("hold app").ok)
        let first = try HoldSupport.send(h, ["/slow?ms=3000&note=0"], cookie: "session=alice")
        let second = try HoldSupport.send(h, ["/notes/1"], cookie: "session=alice")
        let release = Background { h.run("release app") }
        let firstSeen = try Self.seenAt(h, "/slow")
        let secondSeen = try Self.seenAt(h, "/notes/1")
        let waited = Double(secondSeen - firstSeen) / 1000
        #expect(waited < 2.5, "sent \(waited)s after the first: at the give-up, not after the first's answer (3 s)")
        #expect(try second[0].wait(seconds: 20)?.status == 200)
        #expect(try first[0].wait(seconds: 20)?.status == 200)
        #expect(try release.wait(seconds: 20).ok)
    }
}
