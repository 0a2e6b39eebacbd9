import Foundation
import Testing
import SwitchyardCompare
import SwitchyardProxy
import SwitchyardTestSupport

/// A mirror target that stalls, resets or answers 10 MiB costs the user nothing: the
/// primary's answers are unaffected, pooled buffers stay bounded, and the counters say what
/// was dropped or failed. Over a bound a copy is dropped, never queued.
@Suite struct MirrorBoundsTests {
    static func routes(target: MirrorTarget, _ extra: String = "") -> String {
        mirrorRoutes("mirror shadow 100%", extra: "mirror noise 0%\n" + extra,
                     backends: "backend shadow {\n    server 127.0.0.1:\(target.port)\n}")
    }

    @Test func aStalledTargetIsBoundedByInFlightAndTimesOut() throws {
        let stall = try MirrorTarget(.stall)
        defer { stall.stop() }
        let h = try ProxyHarness(routes: Self.routes(target: stall, "mirror in-flight 4")) { $0.mirrorTimeoutMilliseconds = 1_500 }
        defer { h.stop() }
        let client = try h.client()
        let started = Date()
        for i in 0..<20 {
            let answer = try #require(client.get("/notes/\(i)", headers: "X-User: u\r\n"))
            #expect(answer.status == 200 && answer.text.hasPrefix("legacy answered GET /notes/\(i)"))
        }
        #expect(Date().timeIntervalSince(started) < 1.4, "the users never waited for the stalled copies")
        var counters = h.mirrorCounters("shadow")
        #expect(counters.sent == 4, "the in-flight bound: \(counters)")
        #expect(counters.dropped[MirrorDrop.inFlight.rawValue] == 16)
        #expect(counters.inFlight == 4)
        let samples = try h.mirrorSamples(4, seconds: 10)
        #expect(samples.allSatisfy { $0.other.failure == .timeout && $0.primary.status == 200 })
        counters = h.mirrorCounters("shadow")
        #expect(counters.failed["timeout"] == 4 && counters.inFlight == 0)
        // Places free again: the next read is copied.
        #expect(client.get("/again", headers: "X-User: u\r\n")?.status == 200)
        #expect(h.mirrorCounters("shadow").sent == 5)
    }

    @Test func aTargetThatResetsIsCountedAndTheUsersAreAnswered() throws {
        let reset = try MirrorTarget(.reset)
        defer { reset.stop() }
        let h = try ProxyHarness(routes: Self.routes(target: reset))
        defer { h.stop() }
        let client = try h.client()
        for i in 0..<5 {
            #expect(client.get("/notes/\(i)", headers: "X-User: u\r\n")?.status == 200)
        }
        let samples = try h.mirrorSamples(5)
        #expect(samples.allSatisfy { $0.other.failure == .reset && $0.primary.failure == nil })
        #expect(h.mirrorCounters("shadow").failed["reset"] == 5)
    }

    /// A copy that meets a reused connection closed before any answer is sent again on a
    /// fresh one only if sending it twice does no harm: a sandbox's POST may have been taken
    /// in before the close (before: every such POST reached the sandbox twice).
    @Test func aCopiedWriteIsNeverSentTwice() throws {
        let target = try MirrorTarget(.answerOnceThenClose)
        defer { target.stop() }
        let h = try ProxyHarness(routes: mirrorRoutes("mirror shadow 100%", extra: "mirror noise 0%",
                                                      backends: "backend shadow {\n    server 127.0.0.1:\(target.port)\n    sandbox\n}"))
        defer { h.stop() }
        let client = try h.client()
        #expect(client.get("/notes/1", headers: "X-User: u\r\n")?.status == 200)
        _ = try h.mirrorSamples(1)
        usleep(100_000)   // its connection back in the pool, for the POST's copy to reuse
        #expect(client.send("POST /notes HTTP/1.1\r\nHost: x\r\nX-User: u\r\nContent-Length: 5\r\n\r\nhello"))
        #expect(client.readResponse()?.status == 200, "the user's write is answered by the primary")
        let sample = try #require(try h.mirrorSamples(1).first)
        #expect(sample.method == "POST" && sample.other.failure == .reset)
        usleep(200_000)
        #expect(target.received.components(separatedBy: "POST /notes").count - 1 == 1, "\(target.received)")
        // A read meeting the same is sent again (the primary's rule for a replay). Its copy
        // must find the connection /notes/2's copy left in the pool: that copy is waited
        // for first (under load the two could otherwise overlap, each on its own connection).
        #expect(client.get("/notes/2", headers: "X-User: u\r\n")?.status == 200)
        _ = try h.mirrorSamples(1)
        usleep(100_000)
        #expect(client.get("/notes/3", headers: "X-User: u\r\n")?.status == 200)
        _ = try h.mirrorSamples(1)
        #expect(target.received.components(separatedBy: "GET /notes/3").count - 1 == 2, "sent again on a fresh connection: \(target.received)")
    }

    @Test func aTenMebibyteAnswerIsHashedWithoutBeingHeld() throws {
        let big = try MirrorTarget(.big(bytes: 10 << 20))
        defer { big.stop() }
        let h = try ProxyHarness(routes: Self.routes(target: big))
        defer { h.stop() }
        let client = try h.client()
        #expect(client.get("/warm", headers: "X-User: u\r\n")?.status == 200)
        _ = try h.mirrorSamples(1, seconds: 20)
        _ = h.proxy.bufferHighWater(reset: true)
        for i in 0..<4 {
            let answer = try #require(client.get("/notes/\(i)", headers: "X-User: u\r\n"))
            #expect(answer.status == 200 && answer.text.hasPrefix("legacy answered"))
        }
        let samples = try h.mirrorSamples(4, seconds: 30)
        for sample in samples {
            #expect(sample.other.failure == nil)
            #expect(sample.other.bodyLength == 10 << 20)
            #expect(sample.other.body == nil, "over the capture limit: hash only")
            #expect(sample.other.bodyHash.count == 32)
        }
        #expect(Set(samples.map(\.other.bodyHash)).count == 1)
        let (outstanding, peak) = h.proxy.bufferHighWater()
        // A copy holds at most its request and its read buffer, and the four copies may all
        // be streaming at once (a copy reads a turn at a time); the user's exchange four.
        #expect(peak <= 4 * 2 + 4, "pooled buffers at most \(peak) while 40 MiB of mirror answers streamed past")
        #expect(outstanding <= 2)
    }

    /// A target whose answer never ends is cut at `MirrorExchange.maxAnswerBytes` (too_large),
    /// and while it streams the worker keeps serving its users (it reads the copy a turn at a
    /// time, not until the socket runs dry).
    @Test func anEndlessAnswerIsCutAndUsersAreServedMeanwhile() throws {
        let endless = try MirrorTarget(.endless)
        defer { endless.stop() }
        // One copy at a time (the users below are mirrored too: theirs are dropped), and a
        // deadline far enough that the byte bound, not the clock, ends it.
        let h = try ProxyHarness(routes: Self.routes(target: endless, "mirror in-flight 1")) { $0.mirrorTimeoutMilliseconds = 120_000 }
        defer { h.stop() }
        let client = try h.client()
        #expect(client.get("/first", headers: "X-User: u\r\n")?.status == 200)
        // The copy streams for a while (64 MiB); the same worker answers other users meanwhile.
        let other = try h.client()
        for i in 0..<20 {
            let answer = try #require(other.get("/meanwhile/\(i)"))
            #expect(answer.status == 200)
        }
        let samples = try h.mirrorSamples(1, seconds: 60)
        #expect(samples.first?.other.failure == .tooLarge, "cut at the bound: \(String(describing: samples.first?.other.failure))")
        #expect(samples.first?.primary.status == 200, "the user's own answer is whole")
    }

    /// Pairs whose copy has ended but whose primary has not (users reading slowly) hold
    /// their captures: at most four times the in-flight share of them. They were bounded
    /// only by the number of client connections, each holding up to 2 MiB.
    @Test func pairsWaitingForSlowPrimariesAreBounded() throws {
        let quick = try MirrorTarget(.big(bytes: 100))
        defer { quick.stop() }
        let h = try ProxyHarness(routes: Self.routes(target: quick, "mirror in-flight 1"))
        defer { h.stop() }
        var readers: [TestClient] = []
        for user in 0..<10 {
            // Eight megabytes the user does not read: the primary stays open.
            let client = try h.client()
            #expect(client.send("GET /big?bytes=8000000 HTTP/1.1\r\nHost: x\r\nX-User: slow\(user)\r\n\r\n"))
            readers.append(client)
            try waitFor("copy \(user) done", seconds: 5) {
                let c = h.mirrorCounters("shadow")
                return c.inFlight == 0 && c.sent + c.dropped[MirrorDrop.inFlight.rawValue] == user + 1
            }
        }
        let counters = h.mirrorCounters("shadow")
        #expect(counters.sent == 4 && counters.dropped[MirrorDrop.inFlight.rawValue] == 6, "\(counters)")
        // The slow users leave: their pairs end, and copies go again.
        readers.removeAll()
        #expect(try h.mirrorSamples(4, seconds: 5).count == 4, "the four pairs are handed over")
        #expect(try h.client().get("/notes/1", headers: "X-User: back\r\n")?.status == 200)
        try waitFor("a copy again", seconds: 5) { h.mirrorCounters("shadow").sent == 5 }
    }

    @Test func overTheRateCapCopiesAreDroppedNotQueued() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 0%\nmirror rate 2/s"))
        defer { h.stop() }
        let client = try h.client()
        for i in 0..<10 {
            #expect(client.get("/notes/\(i)", headers: "X-User: u\r\n")?.status == 200)
        }
        try waitFor("copies done", seconds: 5) { h.mirrorCounters("cloud").inFlight == 0 }
        let counters = h.mirrorCounters("cloud")
        #expect(counters.sent + counters.dropped[MirrorDrop.rate.rawValue] == 10)
        #expect(counters.sent <= 3, "a burst of 2, and at most one token refilled: \(counters)")
        #expect(h.cloud.requestCount == counters.sent, "dropped copies were never sent later")
    }
}
