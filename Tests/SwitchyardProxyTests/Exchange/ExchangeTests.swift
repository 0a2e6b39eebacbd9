import Testing
import SwitchyardHTTP
@testable import SwitchyardProxy

/// The exchange's transitions, with plain asserts over the actions: no sockets, no clock.
@Suite struct ExchangeTests {
    static let get = Exchange.Request(method: .get, body: .none)
    static func post(_ body: Exchange.RequestBody, expectContinue: Bool = false) -> Exchange.Request {
        Exchange.Request(method: .post, body: body, expectContinue: expectContinue)
    }
    static let routed = Exchange.Routing.routed(backend: 0, maxBody: nil)

    /// `request` routed, passed and connected: waiting for its answer.
    static func sending(_ request: Exchange.Request) -> Exchange {
        var e = Exchange()
        _ = e.headRouted(request, routed, draining: false)
        _ = e.decisionPointPassed(.forward)
        e.connected()
        return e
    }

    static func sendingGet() -> Exchange { sending(get) }

    static func with(_ change: (inout Exchange.Request) -> Void) -> Exchange.Request {
        var request = get
        change(&request)
        return request
    }

    // MARK: routing and the decision point

    @Test func aRoutedHeadStopsAtTheDecisionPointThenConnects() {
        var e = Exchange()
        #expect(e.headRouted(Self.get, Self.routed, draining: false) == .consultDecisionPoint)
        #expect(e.state == .decisionPoint)
        #expect(e.decisionPointPassed(.forward) == .connect(reuse: true))
        #expect(e.state == .connecting)
    }

    @Test(arguments: [
        (Exchange.Routing.noRoute, 404), (.misdirected, 421), (.connectMethod, 501),
    ])
    func unroutableHeadsAreAnsweredAndKeepTheConnectionWhenThereIsNoBody(routing: Exchange.Routing, status: Int) {
        var e = Exchange()
        let close = status == 501   // CONNECT's tunnel bytes could follow: always close
        #expect(e.headRouted(Self.get, routing, draining: false) == .answer(status: status, close: close))
        #expect(e.state == .answered)
        var withBody = Exchange()
        #expect(withBody.headRouted(Self.post(.length(5)), routing, draining: false) == .answer(status: status, close: true))
    }

    @Test func aClientThatAskedToCloseOrADrainingWorkerClosesAfterTheAnswer() {
        var e = Exchange()
        var request = Self.get
        request.keepAlive = false
        #expect(e.headRouted(request, .noRoute, draining: false) == .answer(status: 404, close: true))
        var d = Exchange()
        #expect(d.headRouted(Self.get, .noRoute, draining: true) == .answer(status: 404, close: true))
    }

    @Test func aContentLengthOverMaxBodyIs413AtTheLimitPlusOneOnly() {
        let limited = Exchange.Routing.routed(backend: 0, maxBody: 100)
        var atLimit = Exchange()
        #expect(atLimit.headRouted(Self.post(.length(100)), limited, draining: false) == .consultDecisionPoint)
        var over = Exchange()
        #expect(over.headRouted(Self.post(.length(101)), limited, draining: false) == .answer(status: 413, close: true))
        #expect(over.bodyLimit == 100)
    }

    @Test func aHeadTooLargeToRewriteIs431() {
        var e = Exchange()
        _ = e.headRouted(Self.get, Self.routed, draining: false)
        #expect(e.headRewriteFailed() == .answer(status: 431, close: true))
    }

    // MARK: request bodies

    @Test func aChunkedBodyIsHeldUnlessTheClientWaitsFor100Continue() {
        var held = Exchange()
        _ = held.headRouted(Self.post(.chunked), Self.routed, draining: false)
        #expect(held.decisionPointPassed(.forward) == .holdBody)
        #expect(held.heldBodyValidated() == .connect(reuse: true))
        var streamed = Exchange()
        _ = streamed.headRouted(Self.post(.chunked, expectContinue: true), Self.routed, draining: false)
        #expect(streamed.decisionPointPassed(.forward) == .connect(reuse: true))
    }

    @Test func aBadHeldBodyIsAnsweredAndABadBodyAfterTheResponseStartedIsCut() {
        var held = Exchange()
        _ = held.headRouted(Self.post(.chunked), Self.routed, draining: false)
        _ = held.decisionPointPassed(.forward)
        #expect(held.requestBodyRefused(status: 400) == .answer(status: 400, close: true))

        var streaming = Self.sending(Self.post(.chunked, expectContinue: true))
        #expect(streaming.requestBodyRefused(status: 413) == .answer(status: 413, close: true))

        var answered = Self.sending(Self.post(.chunked, expectContinue: true))
        _ = answered.responseHeadReceived(status: 200, framing: .chunked)
        #expect(answered.requestBodyRefused(status: 400) == .cut(reason: .badRequestBody))
        #expect(answered.state == .cut)
    }

    @Test func aSlowBodyIs408BeforeTheResponseAndACutAfter() {
        var e = Self.sending(Self.post(.length(10)))
        #expect(e.requestBodyTooSlow() == .answer(status: 408, close: true))
        var late = Self.sending(Self.post(.length(10)))
        _ = late.responseHeadReceived(status: 200, framing: .contentLength(3))
        #expect(late.requestBodyTooSlow() == .cut(reason: .requestBodyTooSlow))
    }

    // MARK: connecting

    @Test func aFailedConnectTriesTheNextServerThenTheOtherSideThen503() {
        let failover = Exchange.Routing.routed(backend: 0, maxBody: nil)
        var e = Exchange()
        _ = e.headRouted(Self.get, failover, draining: false)
        _ = e.decisionPointPassed(.forward)
        e.triedServers = 0b11
        #expect(e.connectFailed() == .connect(reuse: true))
        #expect(e.noServerLeft(otherSide: 1) == .failOver(backend: 1))
        #expect(e.triedServers == 0, "the other side's servers are all untried")
        #expect(e.backend == 1)
        #expect(e.noServerLeft(otherSide: 0) == .answer(status: 503, close: false), "failover happens once")
    }

    @Test func withoutFailoverNoServerIs503AndAnUnreadBodyCloses() {
        var e = Exchange()
        _ = e.headRouted(Self.post(.length(4)), Self.routed, draining: false)
        _ = e.decisionPointPassed(.forward)
        #expect(e.noServerLeft(otherSide: nil) == .answer(status: 503, close: true))
    }

    @Test func aConnectThatTimesOutIsAFailedConnect() {
        var e = Exchange()
        _ = e.headRouted(Self.get, Self.routed, draining: false)
        _ = e.decisionPointPassed(.forward)
        #expect(e.deadlinePassed() == .connect(reuse: true))
    }

    // MARK: upstream failures

    @Test func aStaleKeepAliveConnectionIsReplayedOnceForSafeRequestsOnly() {
        var e = Self.sendingGet()
        e.triedServers = 1
        #expect(e.upstreamFailed(reusedConnection: true, nothingReceived: true, replayable: true) == .replay)
        #expect(e.triedServers == 0)
        e.connected()
        #expect(e.upstreamFailed(reusedConnection: true, nothingReceived: true, replayable: true) == .answer(status: 502, close: true),
                "a replay happens once")

        var fresh = Self.sendingGet()
        #expect(fresh.upstreamFailed(reusedConnection: false, nothingReceived: true, replayable: true) == .answer(status: 502, close: true))
        var answered = Self.sendingGet()
        #expect(answered.upstreamFailed(reusedConnection: true, nothingReceived: false, replayable: true) == .answer(status: 502, close: true))
        var post = Self.sending(Self.post(.none))
        #expect(post.upstreamFailed(reusedConnection: true, nothingReceived: true, replayable: true) == .answer(status: 502, close: true),
                "POST is not idempotent")
        var withBody = Self.sendingGet()
        #expect(withBody.upstreamFailed(reusedConnection: true, nothingReceived: true, replayable: false) == .answer(status: 502, close: true))
    }

    @Test func aFailureAfterTheResponseStartedCuts() {
        var e = Self.sendingGet()
        #expect(e.responseHeadReceived(status: 200, framing: .contentLength(10)) == .relayResponse(closeAfter: false))
        #expect(e.upstreamFailed(reusedConnection: false, nothingReceived: false, replayable: false) == .cut(reason: .upstreamFailedMidResponse))
    }

    @Test func noAnswerInTimeIs504AndATimeoutMidBodyCuts() {
        var e = Self.sendingGet()
        #expect(e.deadlinePassed() == .answer(status: 504, close: true))
        var mid = Self.sendingGet()
        _ = mid.responseHeadReceived(status: 200, framing: .chunked)
        #expect(mid.deadlinePassed() == .cut(reason: .upstreamTimeoutMidResponse))
    }

    @Test func aResponseHeadTooLargeToRelayIsStillAnswered502() {
        var e = Self.sendingGet()
        _ = e.responseHeadReceived(status: 200, framing: .none)
        e.responseHeadNotRelayed()
        #expect(e.upstreamFailed(reusedConnection: false, nothingReceived: false, replayable: false) == .answer(status: 502, close: true))
    }

    // MARK: responses

    @Test func interimAnswersGoToHTTP11ClientsOnly() {
        var e = Self.sendingGet()
        #expect(e.responseHeadReceived(status: 100, framing: .none) == .forwardInterim)
        #expect(e.responseHeadReceived(status: 103, framing: .none) == .forwardInterim)
        #expect(e.state == .sending)
        var old = Self.sending(Self.with { $0.clientIsHTTP10 = true })
        #expect(old.responseHeadReceived(status: 100, framing: .none) == .dropInterim)
        var h2 = Self.sending(Self.with { $0.http2 = true })
        #expect(h2.responseHeadReceived(status: 103, framing: .none) == .dropInterim)
    }

    @Test func a101IsATunnelOnlyForAnUpgradeRequest() {
        var plain = Self.sendingGet()
        #expect(plain.responseHeadReceived(status: 101, framing: .none) == .rejectResponse)
        #expect(plain.upstreamFailed(reusedConnection: false, nothingReceived: false, replayable: false) == .answer(status: 502, close: true))
        var e = Self.sending(Self.with { $0.upgrade = true })
        #expect(e.responseHeadReceived(status: 101, framing: .none) == .startTunnel)
        #expect(e.state == .tunnel)
        #expect(e.tunnelEnded() == .finish(close: true))
        // The server's side failing mid-tunnel (a reset, a bad TLS record) ends the tunnel;
        // it was a precondition failure — a crash on what a server sends.
        var failing = Self.sending(Self.with { $0.upgrade = true })
        #expect(failing.responseHeadReceived(status: 101, framing: .none) == .startTunnel)
        #expect(failing.upstreamFailed(reusedConnection: true, nothingReceived: false, replayable: false) == .cut(reason: .tunnelEnded))
        #expect(failing.state == .cut)
    }

    @Test func bodiesTheClientCanOnlySeeEndByCloseCloseTheConnection() {
        var untilClose = Self.sendingGet()
        #expect(untilClose.responseHeadReceived(status: 200, framing: .untilClose) == .relayResponse(closeAfter: true))
        var old = Self.sending(Self.with { $0.clientIsHTTP10 = true })
        #expect(old.responseHeadReceived(status: 200, framing: .chunked) == .relayResponse(closeAfter: true))
        var chunked = Self.sendingGet()
        #expect(chunked.responseHeadReceived(status: 200, framing: .chunked) == .relayResponse(closeAfter: false))
    }

    @Test func anAnswerBeforeTheWholeBodyWaitsForItOrCloses() {
        var e = Self.sending(Self.post(.length(100)))
        // The body is still arriving: the connection cannot be reused.
        #expect(e.responseHeadReceived(status: 401, framing: .contentLength(0)) == .relayResponse(closeAfter: true))
        #expect(e.responseEnded() == .finish(close: true))

        var waits = Self.sending(Self.post(.length(100)))
        #expect(waits.requestBodyEnded() == .none, "the body ends before any answer: nothing to do yet")
        #expect(waits.responseHeadReceived(status: 200, framing: .contentLength(2)) == .relayResponse(closeAfter: false))
        #expect(waits.responseEnded() == .finish(close: false))
        #expect(waits.state == .finished)
        #expect(waits.status == 200)
    }

    @Test func theClientLeavingCutsARunningExchangeAndIsIgnoredAfterIt() {
        var e = Self.sendingGet()
        #expect(e.clientGone() == .cut(reason: .clientGone))
        var done = Self.sendingGet()
        _ = done.responseHeadReceived(status: 204, framing: .none)
        _ = done.responseEnded()
        #expect(done.clientGone() == .none)
    }

    @Test func aNewHeadStartsAfreshAfterTheLastExchangeEnded() {
        var e = Self.sendingGet()
        _ = e.upstreamFailed(reusedConnection: true, nothingReceived: true, replayable: true)
        e.connected()
        _ = e.responseHeadReceived(status: 200, framing: .none)
        _ = e.responseEnded()
        #expect(e.replayed)
        #expect(e.headRouted(Self.get, Self.routed, draining: false) == .consultDecisionPoint)
        #expect(!e.replayed && e.status == 0 && !e.responseStarted)
    }

    // MARK: impossible events are our bugs

    /// An event the driver cannot send in a state stops the process (with the state in the
    /// message) rather than carrying on with a request in an unknown state.
    @Test func impossibleEventsStopTheProcess() async {
        await #expect(processExitsWith: .failure) {
            var e = Exchange()
            _ = e.responseHeadReceived(status: 200, framing: .none)   // no request sent
        }
        await #expect(processExitsWith: .failure) {
            var e = Exchange()
            e.connected()   // never routed
        }
        await #expect(processExitsWith: .failure) {
            var e = ExchangeTests.sendingGet()
            _ = e.noServerLeft(otherSide: nil)   // already connected
        }
        await #expect(processExitsWith: .failure) {
            var e = ExchangeTests.sendingGet()
            _ = e.decisionPointPassed(.forward)   // passed once already
        }
        await #expect(processExitsWith: .failure) {
            var e = ExchangeTests.sendingGet()
            _ = e.responseHeadReceived(status: 200, framing: .none)
            _ = e.responseEnded()
            _ = e.deadlinePassed()   // finished: no deadline runs
        }
    }
}
