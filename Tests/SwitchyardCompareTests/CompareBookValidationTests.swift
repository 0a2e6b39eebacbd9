import Foundation
import Testing
@testable import SwitchyardCompare

/// A compare.json that decodes but holds numbers no run could have written is refused as a
/// whole (the store sets it aside and starts empty) instead of reaching arithmetic that traps.
@Suite struct CompareBookValidationTests {
    func book(_ change: (inout EndpointBook, inout RouteBook) -> Void) -> CompareBook {
        var endpoint = EndpointBook()
        endpoint.pairs = 10
        var route = RouteBook()
        route.firstTime = Date().timeIntervalSince1970 - 60
        route.lastTime = Date().timeIntervalSince1970
        change(&endpoint, &route)
        route.endpoints["GET /a"] = endpoint
        var book = CompareBook()
        book.routes["app"] = route
        return book
    }

    @Test func aBookAsARunWritesItPasses() {
        #expect(book { _, _ in }.problem(now: Date()) == nil)
    }

    @Test func impossibleNumbersAreNamed() {
        let cases: [(String, (inout EndpointBook, inout RouteBook) -> Void)] = [
            ("time", { _, r in r.firstTime = 1e300 }),
            ("time", { _, r in r.lastTime = -.infinity }),
            ("count", { e, _ in e.pairs = Int.max }),
            ("count", { e, _ in e.keyCounts["status:200>500"] = -1 }),
            ("histogram", { e, _ in e.primaryLatency.counts = [1, 2] }),
        ]
        for (word, change) in cases {
            let problem = book(change).problem(now: Date())
            #expect(problem != nil, "refused: \(word)")
        }
    }

    /// Counts each in range can still add up past what the reports' sums hold: 16 endpoints
    /// of 64 signatures counted 2^53 each made `compare` and /status.json overflow (a crash).
    @Test func countsThatAddUpPastTheRangeAreRefused() {
        var book = book { _, _ in }
        var endpoint = EndpointBook()
        endpoint.pairs = 1 << 53
        for k in 0..<64 { endpoint.signatures["s\(k)"] = 1 << 53 }
        for e in 0..<16 { book.routes["app"]!.endpoints["GET /e\(e)"] = endpoint }
        let problem = book.problem(now: Date())
        #expect(problem?.contains("add up") == true, "\(problem ?? "accepted")")
    }

    @Test func reportTextNeverTrapsOnExtremeNumbers() {
        #expect(ReportFormat.duration(1e300) == ReportFormat.duration(1e15))
        #expect(ReportFormat.duration(-.infinity) == "0 s")
        #expect(ReportFormat.percent(.infinity) == "? %")
        #expect(!ReportFormat.percent(1e30).isEmpty)
    }
}
