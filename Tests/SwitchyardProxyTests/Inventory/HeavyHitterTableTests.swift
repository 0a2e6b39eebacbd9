import Foundation
import Testing
import SwitchyardRouting
@testable import SwitchyardProxy

/// The inventory's tables without sockets: their bound, what they keep under a flood of
/// distinct keys, and the key texts (path templates, product tokens, networks).
@Suite struct HeavyHitterTableTests {
    /// The per-worker bound is fixed at start, whatever the traffic: ≤ 4 MiB.
    @Test func theTablesOfAWorkerFitInFourMebibytes() {
        #expect(WorkerInventory.bytes <= 4 * 1024 * 1024)
        let inventory = WorkerInventory(decisionCapacity: 1)
        #expect(inventory.tables.reduce(0) { $0 + $1.bytes } == WorkerInventory.bytes)
        print("inventory tables per worker: \(WorkerInventory.bytes) bytes (\(String(format: "%.2f", Double(WorkerInventory.bytes) / 1_048_576)) MiB)")
    }

    /// 1,000,000 distinct sticky keys (one caller network each) and 100,000 distinct paths,
    /// interleaved with a few heavy hitters: the heavy hitters are kept with their exact
    /// counts, the rest is counted as "other", kept + other = every request, and the memory
    /// is what it was before the flood.
    @Test func aFloodOfDistinctKeysKeepsTheHeavyHittersWithinTheBound() {
        let inventory = WorkerInventory(decisionCapacity: 1)
        let before = WorkerInventory.bytes
        let key = inventory.key
        let route = Array("app".utf8)
        var heavyPathCounts = [Int](repeating: 0, count: 4)
        var heavyCallerCount = 0
        var total = 0
        route.withUnsafeBytes { r in
            for i in 0..<1_000_000 {
                total += 1
                // Callers: a million distinct /24s (one-off sticky keys from everywhere), and
                // one network that keeps calling.
                key.start(route: r)
                let heavy = i % 10 == 0
                key.network = InventoryNetwork.encoded(heavy ? .v4(0x0A32_0000) : .v4(UInt32(i) << 8))
                if heavy { heavyCallerCount += 1 }
                inventory.table(.callers).record(key, now: 1)
                // Endpoints: 100,000 distinct paths, and four endpoints everybody uses.
                key.start(route: r)
                key.separator()
                // Distinct keys in letters: a letter with four digits or more folds to {id}.
                var n = i % 100_000, letters = "x"
                repeat { letters.append(Character(Unicode.Scalar(UInt8(97 + n % 26)))); n /= 26 } while n > 0
                let path = i % 5 == 0 ? "/heavy/\(i % 4)/x" : "/p/\(letters)"
                if i % 5 == 0 { heavyPathCounts[i % 4] += 1 }
                var text = path
                text.withUTF8 { key.appendTemplate(ofPath: UnsafeRawBufferPointer($0)) }
                inventory.table(.endpoints).record(key, now: 1)
            }
        }
        #expect(WorkerInventory.bytes == before)
        let block = UnsafeMutableRawPointer.allocate(byteCount: WorkerInventory.bytes, alignment: 8)
        defer { block.deallocate() }
        inventory.copy(into: block)
        let snapshot = InventorySnapshot.decode([UnsafeRawPointer(block)])
        let callers = snapshot.rows(.callers)
        #expect(callers.count <= InventorySection.callers.capacity)
        let heavyCaller = callers.first { InventoryNetwork.text($0.network) == "10.50.0.0/24" }
        #expect(heavyCaller?.count == UInt64(heavyCallerCount))
        #expect(callers.reduce(0) { $0 + $1.count } + snapshot.other(.callers) == UInt64(total))
        let endpoints = snapshot.rows(.endpoints)
        #expect(endpoints.count <= InventorySection.endpoints.capacity)
        for n in 0..<4 {
            let row = endpoints.first { $0.parts == ["app", "/heavy/{id}/x"] }
            _ = row
            let exact = endpoints.first { $0.parts.last == "/heavy/\(n)/x" }
            // Digits-only segments fold: the four heavy paths are one template.
            #expect(exact == nil)
        }
        let folded = endpoints.first { $0.parts.last == "/heavy/{id}/x" }
        #expect(folded?.count == UInt64(heavyPathCounts.reduce(0, +)))
        #expect(endpoints.reduce(0) { $0 + $1.count } + snapshot.other(.endpoints) == UInt64(total))
        #expect(snapshot.other(.endpoints) > 0)
        print("after 1,000,000 keys: \(callers.count) caller rows, \(endpoints.count) endpoint rows kept; other: \(snapshot.other(.callers)) / \(snapshot.other(.endpoints)); bytes \(WorkerInventory.bytes)")
    }

    @Test(arguments: [
        ("/patients/12345/chart", "/patients/{id}/chart"),
        ("/a/3f2c8e1a-9b7d-4c2e-8f1a-0b9c8d7e6f5a/b", "/a/{id}/b"),
        ("/o/5f1d7c2e9a3b4c6d8e0f1a2b", "/o/{id}"),
        ("/search?q=secret-patient-name", "/search"),
        ("/deadbeefdeadbeef/x", "/deadbeefdeadbeef/x"),      // hex without a digit: a word
        ("/v2/api/", "/v2/api/"),
        ("", "/"),
    ])
    func pathTemplatesFoldIdentifiersAndDropTheQuery(_ path: String, _ template: String) {
        let key = InventoryKey()
        var text = path
        text.withUTF8 { key.appendTemplate(ofPath: UnsafeRawBufferPointer($0)) }
        #expect(String(decoding: UnsafeRawBufferPointer(start: key.text, count: key.count), as: UTF8.self) == template)
    }

    @Test(arguments: [
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "Mozilla"),
        ("okhttp/4.9.3", "okhttp"),
        ("python-requests/2.31", "python-requests"),
        ("ClinicDesk", "ClinicDesk"),
        ("", "-"),
    ])
    func userAgentsAreGroupedByProductToken(_ agent: String, _ product: String) {
        let key = InventoryKey()
        var text = agent
        text.withUTF8 { key.appendProduct(ofUserAgent: UnsafeRawBufferPointer($0)) }
        #expect(String(decoding: UnsafeRawBufferPointer(start: key.text, count: key.count), as: UTF8.self) == product)
    }

    @Test func networksAreSlash24AndSlash64() throws {
        #expect(InventoryNetwork.text(InventoryNetwork.encoded(try #require(ClientAddress(parsing: "192.0.2.77")))) == "192.0.2.0/24")
        #expect(InventoryNetwork.text(InventoryNetwork.encoded(try #require(ClientAddress(parsing: "::ffff:192.0.2.77")))) == "192.0.2.0/24")
        #expect(InventoryNetwork.text(InventoryNetwork.encoded(try #require(ClientAddress(parsing: "2001:db8:1:2:3:4:5:6")))) == "2001:db8:1:2::/64")
    }

    /// The decision log's ring keeps the last `capacity` records, oldest first.
    @Test func theDecisionLogKeepsTheLastRecords() {
        let log = DecisionLog(capacity: 1000)
        for i in 0..<2500 {
            log.append(DecisionRecord(time: UInt32(i), route: 1, keys: ReplayKeys(keyHash: UInt64(i) + 1), network: 0, clientKind: 1, method: 0, backend: 0))
        }
        let target = UnsafeMutablePointer<DecisionRecord>.allocate(capacity: 1000)
        defer { target.deallocate() }
        #expect(log.copy(into: target) == 1000)
        #expect(target[0].time == 1500 && target[999].time == 2499)
        #expect(MemoryLayout<DecisionRecord>.stride * 1_000_000 <= 64 * 1024 * 1024)
    }
}
