import CSwitchyardMallocCounter
import Foundation
import Testing
import SwitchyardTestSupport
@testable import SwitchyardProxy

/// The inventory and the decision log are always on: recording a request must not
/// allocate, even when every request brings a new user, a new path (so the tables evict)
/// and a cohort match, and while the admin side reads the tables and the log.
@Suite struct InventoryAllocationTests {
    @Test(.enabled(if: sy_malloc_counter_active() == 1, "sanitizer builds own the allocator"))
    func recordingNewUsersPathsAndNetworksAllocatesNothing() throws {
        let h = try ProxyHarness(routes: """
            backend legacy {
                server 127.0.0.1:LEGACY
            }
            backend cloud {
                server 127.0.0.1:CLOUD
            }
            route app {
                split legacy 50% cloud 50%
                sticky cookie SB
                cohort header X-Staff-Group internal -> cloud
                cohort path /reports/ -> legacy
            }
            """, settings: ProxyHarness.noIdleReduction)
        defer { h.stop() }
        let client = try h.client()
        func request(_ i: Int) throws {
            let staff = i % 7 == 0 ? "X-Staff-Group: internal\r\n" : ""
            let agent = i % 2 == 0 ? "Mozilla/5.0 (X11)" : "okhttp/4.9.\(i % 10)"
            // Distinct first segments in letters only: a letter with four digits or more is
            // a record number, folded to {id}, and would not make distinct rows.
            var n = i % 20_000, letters = "p"
            repeat { letters.append(Character(Unicode.Scalar(UInt8(97 + n % 26)))); n /= 26 } while n > 0
            let path = i % 3 == 0 ? "/reports/\(i)" : "/\(letters)/item/\(i)?q=\(i)"
            let response = try #require(client.get(path, headers: "Cookie: SB=\(String(format: "%016x", i))\r\nUser-Agent: \(agent)\r\n\(staff)"))
            #expect(response.status == 200)
        }
        for i in 0..<2_000 { try request(i) }
        // No read before counting: `Proxy.start` took the copies once already, so the first
        // read during the traffic allocates nothing on the worker either.
        _ = AllocationTests.measure(h) {}
        let count = 10_000
        let counted = try AllocationTests.measure(h) {
            for i in 2_000..<(2_000 + count) {
                try request(i)
                // The admin side reads while traffic flows (its copies are made on the worker).
                if i % 2_500 == 0 {
                    _ = h.proxy.inventorySnapshot()
                    _ = h.proxy.decisionRecords()
                }
            }
        }
        #expect(counted == 0, "\(counted) allocations in \(count) requests recorded into the inventory")
        let snapshot = h.proxy.inventorySnapshot()
        let total = snapshot.rows(.endpoints).reduce(0) { $0 + $1.count } + snapshot.other(.endpoints)
        #expect(total == UInt64(2_000 + count))
        #expect(snapshot.other(.endpoints) > 0, "20,000 distinct paths must overflow the endpoint table")
        #expect(h.proxy.decisionRecords().count == 2_000 + count)
    }
}
