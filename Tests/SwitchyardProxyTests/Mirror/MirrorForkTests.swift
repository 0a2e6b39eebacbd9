import Foundation
import Testing
import SwitchyardCompare
import SwitchyardProxy
import SwitchyardTestSupport

/// The fork at the decision point, with real origins: the user gets the primary's answer,
/// the copy goes to the mirror target marked `X-Switchyard-Mirror: 1`, and each pair comes
/// out as a `MirrorSample` holding both answers.
@Suite struct MirrorForkTests {
    /// Only the proxy marks a copy: a client's own `X-Switchyard-Mirror` (either spelling)
    /// never reaches a backend — a real request marked as a shadow could skip its saving or
    /// its audit there — and the copy carries exactly our one marker.
    @Test func aClientCannotMarkItsRequestAsACopy() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 0%"))
        defer { h.stop() }
        let client = try h.client()
        let answer = try #require(client.get("/notes/8", headers: "X-User: nurse-2\r\nX-Switchyard-Mirror: 1\r\nX_Switchyard_Mirror: 0\r\n"))
        #expect(answer.status == 200)
        _ = try h.mirrorSamples(1)
        let primary = try #require(h.legacy.requestHeads.first)
        #expect(!primary.lowercased().contains("switchyard-mirror") && !primary.lowercased().contains("switchyard_mirror"),
                "the user's request reached legacy marked: \(primary)")
        let copy = try #require(h.cloud.requestHeads.first)
        let markers = copy.lowercased().components(separatedBy: "\r\n").filter { $0.hasPrefix("x-switchyard-mirror") || $0.hasPrefix("x_switchyard_mirror") }
        #expect(markers == ["x-switchyard-mirror: 1"], "\(markers)")
    }

    @Test func aMirroredReadReachesBothSidesAndTheUserGetsThePrimarysAnswer() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 0%"))
        defer { h.stop() }
        let client = try h.client()
        let answer = try #require(client.get("/notes/7?patient=123", headers: "X-User: nurse-1\r\n"))
        #expect(answer.status == 200)
        #expect(answer.text.hasPrefix("legacy answered GET /notes/7"), "the user gets the primary's answer")
        #expect(answer.header("X-Switchyard-Mirror") == nil)
        let samples = try h.mirrorSamples(1)
        let sample = try #require(samples.first)
        #expect(sample.kind == .mirror)
        #expect(sample.route == "app" && sample.target == "cloud" && sample.method == "GET")
        #expect(sample.path == "/notes/7", "no query string leaves the data plane")
        #expect(sample.primary.status == 200 && sample.other.status == 200)
        #expect(sample.primary.failure == nil && sample.other.failure == nil)
        #expect(sample.primary.body == answer.body, "the primary's body as the user got it")
        #expect(String(decoding: sample.other.body ?? [], as: UTF8.self).hasPrefix("cloud answered GET /notes/7"))
        #expect(sample.primary.bodyHash.count == 32 && sample.other.bodyHash.count == 32)
        #expect(sample.primary.bodyHash != sample.other.bodyHash)
        #expect(sample.primary.bodyLength == answer.body.count)
        #expect(sample.other.headers.contains { $0.name.lowercased() == "content-length" })
        let heads = h.cloud.requestHeads
        #expect(heads.count == 1)
        #expect(heads.first?.contains("X-Switchyard-Mirror: 1") == true, "the copy is marked")
        #expect(heads.first?.hasPrefix("GET /notes/7?patient=123 ") == true, "the copy is the request as sent upstream")
        #expect(h.legacy.requestHeads.allSatisfy { !$0.contains("X-Switchyard-Mirror") })
        let counters = h.mirrorCounters("cloud")
        #expect(counters.sent == 1 && counters.completed == 1 && counters.inFlight == 0)
    }

    @Test func aChunkedPrimaryAnswerIsRecordedDeFramed() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 0%"))
        defer { h.stop() }
        let answer = try #require(try h.client().get("/chunked", headers: "X-User: a\r\n"))
        #expect(answer.status == 200)
        let sample = try #require(try h.mirrorSamples(1).first)
        #expect(sample.primary.body == answer.body, "the de-chunked body is what is compared")
        #expect(sample.other.body == answer.body, "both origins answer /chunked alike")
        #expect(sample.primary.bodyHash == sample.other.bodyHash)
    }

    /// A user the split already sends to the mirror's target is not copied there again: the
    /// pair would compare the target with itself, always match, and count as evidence.
    @Test func aUserAlreadyOnTheTargetIsNotMirroredToIt() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 0%")
            .replacingOccurrences(of: "    backend legacy\n", with: "    split legacy 50% cloud 50%\n"))
        defer { h.stop() }
        for user in 0..<30 { #expect(try h.client().get("/notes/1", headers: "X-User: u\(user)\r\n")?.status == 200) }
        let onLegacy = h.legacy.requestHeads.count
        let copies = h.cloud.requestHeads.filter { $0.contains("X-Switchyard-Mirror: 1") }.count
        let onCloud = h.cloud.requestHeads.count - copies
        #expect(onLegacy + onCloud == 30 && onLegacy > 0 && onCloud > 0, "legacy \(onLegacy), cloud \(onCloud)")
        #expect(waitUntil(5) { h.cloud.requestHeads.filter { $0.contains("X-Switchyard-Mirror: 1") }.count >= onLegacy })
        usleep(200_000)
        #expect(h.cloud.requestHeads.filter { $0.contains("X-Switchyard-Mirror: 1") }.count == onLegacy,
                "one copy per user on legacy, none for the \(onCloud) on cloud")
    }

    /// A user's request that fails over to the mirror target after the fork (its side has no
    /// server up) yields no pair: the comparison would be the target against itself, always
    /// matching, and a legacy outage would fill the report with agreement that means
    /// nothing — enough to make a route look ready.
    @Test func aRequestThatFailsOverToTheTargetYieldsNoPair() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 0%\nfailover")
            .replacingOccurrences(of: "    backend legacy\n", with: "    split legacy 100% cloud 0%\n")
            .replacingOccurrences(of: "server 127.0.0.1:LEGACY", with: "server 127.0.0.1:DEAD"))
        defer { h.stop() }
        let answer = try #require(try h.client().get("/notes/3", headers: "X-User: u1\r\n"))
        #expect(answer.status == 200 && answer.text.hasPrefix("cloud answered"), "failed over: \(answer.text)")
        #expect(waitUntil(5) { h.mirrorCounters("cloud").completed == 1 }, "the copy ran: \(h.mirrorCounters("cloud"))")
        usleep(200_000)
        let samples = h.proxy.drainMirrorSamples()
        #expect(samples.isEmpty, "\(samples.count) pair(s) of cloud against cloud")
    }

    /// A `sandbox` target takes copies of POSTs (`mirror methods` takes reads only, see
    /// `MirrorRulesTests`); noise, the same request again to the primary side, is for safe
    /// methods only: that side's database is real, and a second POST there is a second write.
    @Test func noiseNeverSendsAWriteToThePrimaryTwice() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 100%", cloudExtra: "sandbox"))
        defer { h.stop() }
        let client = try h.client()
        #expect(client.send("POST /notes HTTP/1.1\r\nHost: x\r\nX-User: a\r\nContent-Length: 5\r\n\r\nhello"))
        #expect(client.readResponse()?.status == 200)
        #expect(try h.client().get("/notes/2", headers: "X-User: a\r\n")?.status == 200)
        // The GET's noise copy reaches legacy: noise is on.
        #expect(waitUntil(5) { h.legacy.requestHeads.filter { $0.hasPrefix("GET /notes/2") }.count == 2 })
        usleep(200_000)
        #expect(h.legacy.requestHeads.filter { $0.hasPrefix("POST /notes") }.count == 1, "\(h.legacy.requestHeads)")
    }

    @Test func aPostIsNeverSentToAMirrorThatIsNotASandbox() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 0%"))
        defer { h.stop() }
        let client = try h.client()
        #expect(client.send("POST /notes HTTP/1.1\r\nHost: x\r\nX-User: a\r\nContent-Length: 5\r\n\r\nhello"))
        let posted = try #require(client.readResponse())
        #expect(posted.status == 200)
        #expect(client.send("PUT /notes/1 HTTP/1.1\r\nHost: x\r\nX-User: a\r\nContent-Length: 0\r\n\r\n"))
        #expect(client.readResponse()?.status == 200)
        // A read after them: once its copy arrived, any copy of the writes would have too.
        #expect(client.get("/after", headers: "X-User: a\r\n")?.status == 200)
        _ = try h.mirrorSamples(1)
        #expect(h.cloud.requestHeads.count == 1, "only the read was copied: \(h.cloud.requestHeads)")
        #expect(h.cloud.requestHeads.allSatisfy { $0.hasPrefix("GET /after") })
        #expect(h.legacy.requestHeads.filter { $0.hasPrefix("POST") }.count == 1, "the write reached the primary once")
        #expect(h.mirrorCounters("cloud").dropped[MirrorDrop.method.rawValue] == 2)
    }

    @Test func aWriteGoesWithItsBodyToASandboxAndNeverTwiceToThePrimary() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 100%", cloudExtra: "sandbox"))
        defer { h.stop() }
        let client = try h.client()
        #expect(client.send("POST /echo HTTP/1.1\r\nHost: x\r\nX-User: a\r\nContent-Length: 11\r\n\r\nhello world"))
        let posted = try #require(client.readResponse())
        #expect(posted.text == "hello world")
        let sample = try #require(try h.mirrorSamples(1).first)
        #expect(sample.kind == .mirror && sample.method == "POST")
        #expect(sample.other.body == Array("hello world".utf8), "the sandbox got the body")
        let raw = try #require(h.cloud.rawRequests.first)
        let text = String(decoding: raw, as: UTF8.self)
        #expect(text.hasPrefix("POST /echo ") && text.contains("X-Switchyard-Mirror: 1") && text.hasSuffix("hello world"))
        // Noise is for reads only: the primary's real database never sees a write twice.
        #expect(h.legacy.requestHeads.count == 1)
    }

    @Test func noiseSendsTheCopyASecondTimeToThePrimarySide() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 100%"))
        defer { h.stop() }
        let answer = try #require(try h.client().get("/notes/9", headers: "X-User: a\r\n"))
        #expect(answer.status == 200)
        let samples = try h.mirrorSamples(2)
        let noise = try #require(samples.first { $0.kind == .noise })
        let mirror = try #require(samples.first { $0.kind == .mirror })
        #expect(noise.target == "legacy" && mirror.target == "cloud")
        #expect(noise.other.body == answer.body, "primary vs primary: the same origin answers the same")
        #expect(noise.primary.bodyHash == noise.other.bodyHash)
        let heads = h.legacy.requestHeads
        #expect(heads.count == 2)
        #expect(heads.filter { $0.contains("X-Switchyard-Mirror: 1") }.count == 1)
    }

    @Test func aCopyOnAPooledConnectionTheServerClosedIsSentAgainOnAFreshOne() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 0%"))
        defer { h.stop() }
        h.cloud.dropsRequestsOnReusedConnections = true
        let client = try h.client()
        for i in 0..<3 {
            #expect(client.get("/notes/\(i)", headers: "X-User: a\r\n")?.status == 200)
            _ = try h.mirrorSamples(1).first.map { #expect($0.other.failure == nil && $0.other.status == 200, "copy \(i): \($0.other)") }
        }
        #expect(h.cloud.connectionCount == 3, "each copy after the first met a closed pooled connection and went again")
        #expect(h.mirrorCounters("cloud").failed.isEmpty)
    }

    @Test func anUpgradeIsNeverCopied() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 100%", extra: "mirror noise 0%"))
        defer { h.stop() }
        let client = try h.client()
        #expect(client.send("GET /ws HTTP/1.1\r\nHost: x\r\nX-User: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"))
        let switched = try #require(client.readResponse(head: true))
        #expect(switched.status == 101)
        let other = try h.client()
        #expect(other.get("/after", headers: "X-User: a\r\n")?.status == 200)
        _ = try h.mirrorSamples(1)
        #expect(h.cloud.requestHeads.map { String($0.prefix(10)) } == ["GET /after"], "only the plain read was copied")
    }

    @Test func aUsersWholeSessionIsMirroredOrNoneOfIt() throws {
        let h = try ProxyHarness(routes: mirrorRoutes("mirror cloud 50%", extra: "mirror noise 0%"))
        defer { h.stop() }
        let client = try h.client()
        let users = (0..<40).map { "user-\($0)" }
        for round in 0..<3 {
            for user in users {
                #expect(client.get("/chart/\(user)/\(round)", headers: "X-User: \(user)\r\n")?.status == 200)
            }
        }
        try waitFor("the copies", seconds: 10) { h.mirrorCounters("cloud").inFlight == 0 && h.mirrorCounters("cloud").sent > 0 }
        let heads = h.cloud.requestHeads
        var mirroredUsers = 0
        for user in users {
            let copies = heads.filter { $0.hasPrefix("GET /chart/\(user)/") }.count
            #expect(copies == 0 || copies == 3, "\(user): \(copies) of 3 requests mirrored")
            if copies == 3 { mirroredUsers += 1 }
        }
        #expect(mirroredUsers > 5 && mirroredUsers < 35, "about half the users: \(mirroredUsers) of 40")
    }
}
