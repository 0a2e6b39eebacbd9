import Testing
@testable import SwitchyardProxy

/// A release step's choice, without sockets: arrival order across workers, one write of the
/// hold's at a time per client, joiners never waiting for each other.
@Suite struct ReleasePlanTests {
    typealias Entry = ReleasePlan.Entry
    typealias Listing = ReleasePlan.Listing

    static func held(_ stamp: UInt64, _ key: UInt64) -> Entry { Entry(stamp: stamp, key: key, held: true) }
    static func joiner(_ stamp: UInt64, _ key: UInt64) -> Entry { Entry(stamp: stamp, key: key, held: false) }

    @Test func theEarliestAcrossWorkersGoFirst() {
        let plan = ReleasePlan([Listing(entries: [Self.held(1, 0), Self.held(4, 0)]),
                                Listing(entries: [Self.held(2, 0), Self.held(3, 0)])], count: 3)
        #expect(plan.chosen == [[1], [2, 3]])
        #expect(!plan.choseAllListed)
    }

    @Test func aClientsSecondWriteWaitsForItsFirstWhileOthersGoPast() {
        // Alice (7) parked two writes on two workers; Bob (9) one after them.
        let plan = ReleasePlan([Listing(entries: [Self.held(1, 7)]),
                                Listing(entries: [Self.held(2, 7), Self.held(3, 9)])], count: 16)
        #expect(plan.chosen == [[1], [3]])
        #expect(!plan.choseAllListed, "alice's second write was listed and not chosen")
        #expect(!plan.mayTakeNewcomer(key: 7) && !plan.mayTakeNewcomer(key: 9) && plan.mayTakeNewcomer(key: 8))
    }

    @Test func aRunningWriteHoldsBackItsClientsNextOnesJoinersToo() {
        let plan = ReleasePlan([Listing(entries: [Self.held(5, 7), Self.joiner(6, 7), Self.joiner(8, 9)], running: [7])], count: 16)
        #expect(plan.chosen == [[8]])
    }

    @Test func joinersDoNotWaitForEachOtherNorDoWritesWithoutAKey() {
        let plan = ReleasePlan([Listing(entries: [Self.joiner(1, 7), Self.joiner(2, 7), Self.held(3, 0), Self.held(4, 0)])], count: 16)
        #expect(plan.chosen == [[1, 2, 3, 4]])
        #expect(plan.choseAllListed)
        #expect(plan.takesNewcomers(Listing(complete: true)) && !plan.takesNewcomers(Listing(complete: false)))
    }

    @Test func aWorkerListsUntilItHasCountItCouldSendAndSaysWhetherItListedAll() {
        let parked = [Self.held(1, 7), Self.held(2, 7), Self.held(3, 7), Self.held(4, 9), Self.held(5, 10), Self.held(6, 11)]
        let listing = ReleasePlan.listing(parked, running: [], count: 2, entry: { $0 }, releasable: { $0.stamp != 5 })
        // 1 (alice) and 4 (bob) are the two it could send; 2 and 3 wait behind 1.
        #expect(listing.entries.map(\.stamp) == [1, 2, 3, 4])
        #expect(!listing.complete)
        let all = ReleasePlan.listing(parked, running: [7], count: 16, entry: { $0 }, releasable: { _ in true })
        #expect(all.entries.count == 6 && all.complete && all.running == [7])
    }
}
