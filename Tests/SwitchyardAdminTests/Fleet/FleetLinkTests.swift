import Foundation
import Testing
@testable import SwitchyardAdmin

/// The fleet's state machines, without I/O: when an instance is synced or detached, when it
/// takes a change, how it paces reconnects, what it does with the store's state.
struct FleetLinkTests {
    @Test func connectingThenSyncedOnlyAfterCatchingUp() {
        var link = FleetLink(nowMilliseconds: 0)
        #expect(link.changeRefusal?.contains("not connected yet") == true)
        link.callSucceeded(nowMilliseconds: 10)
        #expect(link.phase == .connecting, "a successful call alone is not a catch-up")
        link.caughtUpWithStore()
        #expect(link.phase == .synced)
        #expect(link.changeRefusal == nil)
        #expect(link.statusWord == "synced")
    }

    @Test func fiveSecondsWithoutSuccessDetachesAndRefusesChanges() {
        var link = FleetLink(nowMilliseconds: 0)
        link.callSucceeded(nowMilliseconds: 0)
        link.caughtUpWithStore()
        link.callFailed(nowMilliseconds: 1_000, reason: "connection refused", wall: "T1")
        let early = link.tick(nowMilliseconds: 4_999, wall: "T")
        #expect(!early, "not yet: 5 s are not over")
        let due = link.tick(nowMilliseconds: 5_000, wall: "T5")
        #expect(due)
        guard case .detached(_, let since, let reason) = link.phase else { Issue.record("not detached"); return }
        #expect(since == "T5")
        #expect(reason.contains("connection refused"))
        #expect(link.changeRefusal?.contains("DETACHED") == true)
        #expect(link.changeRefusal?.hasSuffix("not applied anywhere") == true)
        let again = link.tick(nowMilliseconds: 9_000, wall: "T9")
        #expect(!again, "detached once")
        // A success is not enough: the watch must have caught up with the store.
        link.callSucceeded(nowMilliseconds: 9_500)
        #expect(link.statusWord == "detached")
        link.caughtUpWithStore()
        #expect(link.phase == .synced)
    }

    @Test func aFailedFirstCallStartsDetached() {
        var link = FleetLink(nowMilliseconds: 0)
        link.callFailed(nowMilliseconds: 3, reason: "connect: Connection refused", wall: "T0")
        #expect(link.statusWord == "detached")
    }

    @Test func aWatchEndedForNoLeaderDetachesAtOnce() {
        var link = FleetLink(nowMilliseconds: 0)
        link.caughtUpWithStore()
        link.callSucceeded(nowMilliseconds: 0)
        link.watchEnded(nowMilliseconds: 100, reason: "watch ended: etcdserver: no leader", wall: "T")
        #expect(link.statusWord == "detached")
    }

    @Test func aRejectionAndAnAlarmAreSaid() {
        var link = FleetLink(nowMilliseconds: 0)
        link.callSucceeded(nowMilliseconds: 0)
        link.caughtUpWithStore()
        link.rejected("unknown backend nowhere")
        #expect(link.statusWord == "rejected")
        link.rejected(nil)
        link.storeBehind("the fleet store is at generation 3, behind this instance's 9")
        #expect(link.changeRefusal?.contains("behind") == true)
    }

    @Test func backoffDoublesFrom100msTo2sWithJitterAndResets() {
        var backoff = FleetBackoff()
        var ceilings: [UInt64] = []
        for _ in 0..<8 {
            let low = backoff.next(random: 0), ceiling = low * 2
            ceilings.append(ceiling)
        }
        #expect(ceilings == [100, 200, 400, 800, 1600, 2000, 2000, 2000])
        var high = FleetBackoff()
        let first = high.next(random: UInt64.max)
        #expect(first <= 100)
        backoff.reset()
        let afterReset = backoff.next(random: 0)
        #expect(afterReset == 50)
    }

    @Test func theStoresStateIsAppliedOnlyWhenNewer() {
        #expect(FleetApplyDecision.decide(storeGeneration: 5, localGeneration: 4, whole: false) == .apply)
        #expect(FleetApplyDecision.decide(storeGeneration: 4, localGeneration: 4, whole: true) == .ignore)
        #expect(FleetApplyDecision.decide(storeGeneration: 3, localGeneration: 4, whole: false) == .ignore, "a late event")
        guard case .storeBehind(let alarm) = FleetApplyDecision.decide(storeGeneration: 3, localGeneration: 9, whole: true) else {
            Issue.record("a store behind this instance must raise the alarm"); return
        }
        #expect(alarm.contains("generation 3, behind this instance's 9"))
    }

    @Test func aStateDocumentThatDoesNotParseSaysWhy() {
        #expect(throws: AdminError.self) { try FleetDocument.decode(Data("not json".utf8)) }
        do {
            _ = try FleetDocument.decode(Data("{\"generation\":\"seven\"}".utf8))
        } catch {
            #expect(error.message.contains("does not parse"))
            #expect(error.message.contains("generation"), "\(error.message)")
        }
    }
}
