import Testing
@testable import SwitchyardProxy

/// A release step's choice, without sockets: arrival order across workers, one write of the
/// hold's at a time per client, joiners never waiting for each other.
@Suite struct ReleasePlanTests {
    typealias Entry = ReleasePlan.Entry
    typealias Listing = ReleasePlan.Listing

    /// A write the hold parked (id = stamp: one per worker queue is enough here).
    static func held(_ stamp: UInt64, _ key: UInt64) -> Entry { Entry(id: stamp, stamp: stamp, key: key, held: true) }
    static func joiner(_ stamp: UInt64, _ key: UInt64) -> Entry { Entry(id: stamp, stamp: stamp, key: key, held: false) }

    @Test func theEarliestAcrossWorkersGoFirst() {
        let plan = ReleasePlan([Listing(entries: [Self.held(1, 0), Self.held(4, 0)]),
                                Listing(entries: [Self.held(2, 0), Self.held(3, 0)])], count: 3)
        #expect(plan.chosen == [[1], [2, 3]])
        #expect(!plan.takesNewcomers)
    }

    @Test func aClientsSecondWriteWaitsForItsFirstWhileOthersGoPast() {
        // Alice (7) parked two writes on two workers; Bob (9) one after them.
        let plan = ReleasePlan([Listing(entries: [Self.held(1, 7)]),
                                Listing(entries: [Self.held(2, 7), Self.held(3, 9)])], count: 16)
        #expect(plan.chosen == [[1], [3]])
        #expect(!plan.takesNewcomers, "alice's second write was listed and not chosen")
        #expect(!plan.mayTakeNewcomer(key: 7) && !plan.mayTakeNewcomer(key: 9) && plan.mayTakeNewcomer(key: 8))
    }

    @Test func aRunningWriteHoldsBackItsClientsNextOnesJoinersToo() {
        let plan = ReleasePlan([Listing(entries: [Self.held(5, 7), Self.joiner(6, 7), Self.joiner(8, 9)], running: [7])], count: 16)
        #expect(plan.chosen == [[8]])
    }

    @Test func joinersDoNotWaitForEachOtherNorDoWritesWithoutAKey() {
        let plan = ReleasePlan([Listing(entries: [Self.joiner(1, 7), Self.joiner(2, 7), Self.held(3, 0), Self.held(4, 0)]),
                                Listing()], count: 16)
        #expect(plan.chosen == [[1, 2, 3, 4], []])
        #expect(plan.takesNewcomers)
        #expect(!ReleasePlan([Listing(entries: [Self.held(1, 0)]), Listing(complete: false)], count: 16).takesNewcomers,
                "a worker that did not list all it held: nothing newer may go")
    }

    /// A worker that stopped listing early (here at one write: its second, Bob's older one,
    /// was never listed) bounds the step: another worker's later writes wait, or Bob's newer
    /// write on worker 1 would go before his older one on worker 0. Found by review.
    @Test func aWorkerThatListedPartOfItsQueueBoundsTheStep() {
        let plan = ReleasePlan([Listing(entries: [Self.held(2, 7)], running: [], complete: false),
                                Listing(entries: [Self.held(4, 9)], running: [7])], count: 1)
        #expect(plan.chosen == [[], []], "alice's 2 waits for her running write; bob's 4 is newer than what worker 0 listed")
        #expect(!plan.takesNewcomers)
    }

    @Test func aWorkerListsUntilItHasCountItCouldSendAndSaysWhetherItListedAll() {
        let parked = [Self.held(1, 7), Self.held(2, 7), Self.held(3, 7), Self.held(4, 9), Self.held(5, 10), Self.held(6, 11)]
        let listing = ReleasePlan.listing(parked, running: [], count: 2, upTo: 6, entry: { $0 }, releasable: { $0.stamp != 5 })
        // 1 (alice) and 4 (bob) are the two it could send; 2 and 3 wait behind 1.
        #expect(listing.entries.map(\.stamp) == [1, 2, 3, 4])
        #expect(!listing.complete && listing.upTo == 6)
        let all = ReleasePlan.listing(parked, running: [7], count: 16, upTo: 6, entry: { $0 }, releasable: { _ in true })
        #expect(all.entries.count == 6 && all.complete && all.running == [7])
    }
}
