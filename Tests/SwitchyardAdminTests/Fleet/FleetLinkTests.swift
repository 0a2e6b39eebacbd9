import Foundation
import Testing
@testable import SwitchyardAdmin
import SwitchyardRouting

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

    /// Text in a document written straight to etcd reaches the error log and `history`: a
    /// newline or a right-to-left override in it is replaced, not kept.
    @Test func controlCharactersInAStoreDocumentAreReplaced() throws {
        let written = FleetDocument(generation: 3, state: RuntimeState(), instance: "a\nb", user: "u\u{202E}x", uid: 0,
                                    command: "flip all\n2026-01-01 INFO forged", reason: "r\u{1B}[2J", changes: ["c\rd"],
                                    time: "t\u{0}", committedAtMilliseconds: 1)
        let read = try FleetDocument.decode(written.encoded())
        #expect(read.command == "flip all\u{FFFD}2026-01-01 INFO forged")
        #expect(read.instance == "a\u{FFFD}b" && read.user == "u\u{FFFD}x" && read.reason == "r\u{FFFD}[2J")
        #expect(read.changes == ["c\u{FFFD}d"] && read.time == "t\u{FFFD}")
        let clean = FleetDocument(generation: 3, state: RuntimeState(), instance: "node-1", user: "ops", uid: 0,
                                  command: "flip all --reason \"CHG-1 café\"", reason: "CHG-1 café", changes: ["app: legacy → cloud"],
                                  time: "2026-12-04T10:00:00Z", committedAtMilliseconds: 1)
        #expect(try FleetDocument.decode(clean.encoded()) == clean, "our own documents read back equal (the timed-out commit's read-back compares them)")
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
