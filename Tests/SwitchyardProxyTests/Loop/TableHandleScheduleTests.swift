import Testing
@testable import SwitchyardProxy

/// The weighted turns a table lays out once per backend (`TableHandle.schedule`): shares
/// as the weights say, spread out rather than in runs, drained servers never.
@Suite struct TableHandleScheduleTests {
    @Test func equalWeightsAreThePlainRoundRobin() {
        #expect(TableHandle.schedule(weights: [1, 1, 1]) == [0, 1, 2])
        #expect(TableHandle.schedule(weights: [2, 2, 2]) == [0, 1, 2], "divided by the common divisor")
        #expect(TableHandle.schedule(weights: [1]) == [0])
    }

    @Test func heavierServersTakeMoreTurnsSpreadOut() {
        let turns = TableHandle.schedule(weights: [5, 1, 1])
        #expect(turns == [0, 0, 1, 0, 2, 0, 0], "\(turns)")
        let big = TableHandle.schedule(weights: [1000, 1, 999])
        #expect(big.count == 2000)
        #expect(big.filter { $0 == 0 }.count == 1000 && big.filter { $0 == 1 }.count == 1 && big.filter { $0 == 2 }.count == 999)
        // Never more than two turns in a row for a server of half the weight.
        var longest = 1, run = 1
        for i in 1..<big.count { run = big[i] == big[i - 1] ? run + 1 : 1; longest = max(longest, run) }
        #expect(longest <= 2, "a run of \(longest)")
    }

    @Test func drainedServersTakeNoTurn() {
        #expect(TableHandle.schedule(weights: [1, 0, 1]) == [0, 2])
        #expect(TableHandle.schedule(weights: [0, 3]) == [1])
        #expect(TableHandle.schedule(weights: [0, 0]).isEmpty)
    }
}
