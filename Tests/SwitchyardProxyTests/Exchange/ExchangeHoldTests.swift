import Testing
import SwitchyardHTTP
@testable import SwitchyardProxy

/// The write hold's transitions at the decision point: park, refuse, expire, leave, release.
@Suite struct ExchangeHoldTests {
    static let routed = Exchange.Routing.routed(backend: 0, maxBody: nil)
    static let post = Exchange.Request(method: .post, body: .length(10))

    static func atDecisionPoint() -> Exchange {
        var e = Exchange()
        #expect(e.headRouted(post, routed, draining: false) == .consultDecisionPoint)
        return e
    }

    @Test func aParkedExchangeStaysAtTheDecisionPointWithNothingSent() {
        var e = Self.atDecisionPoint()
        #expect(e.decisionPointPassed(.park) == .park)
        #expect(e.state == .decisionPoint)
        #expect(!e.responseStarted)
    }

    @Test func aRefusedWriteIs503AndClosesWhenItsBodyWasNotRead() {
        var e = Self.atDecisionPoint()
        #expect(e.decisionPointPassed(.refuse) == .answer(status: 503, close: true))
        var bodiless = Exchange()
        _ = bodiless.headRouted(Exchange.Request(method: .delete, body: .none), Self.routed, draining: false)
        #expect(bodiless.decisionPointPassed(.refuse) == .answer(status: 503, close: false))
    }

    @Test func maxWaitIs503AndAClientGoneIsACutNeverAForward() {
        var expired = Self.atDecisionPoint()
        _ = expired.decisionPointPassed(.park)
        #expect(expired.deadlinePassed() == .answer(status: 503, close: true))
        var gone = Self.atDecisionPoint()
        _ = gone.decisionPointPassed(.park)
        #expect(gone.clientGone() == .cut(reason: .clientGone))
    }

    @Test func aReleasedExchangeStartsAgainFromItsHead() {
        var e = Self.atDecisionPoint()
        _ = e.decisionPointPassed(.park)
        e.parkReleased()
        #expect(e.state == .idle)
        #expect(e.headRouted(Self.post, .routed(backend: 1, maxBody: nil), draining: false) == .consultDecisionPoint)
        #expect(e.backend == 1, "routed again: the release's table decides the side")
        #expect(e.decisionPointPassed(.forward) == .connect(reuse: true))
    }
}
