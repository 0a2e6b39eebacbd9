import Foundation
import Glibc
import Testing
@testable import SwitchyardAdmin
import SwitchyardProxy
@testable import SwitchyardRouting
import SwitchyardTestSupport

/// `decisions.bin` keeps a user as a keyed pseudonym, never the sticky key's plain FNV-1a
/// hash: that hash of a client address is found by trying all 2^32 IPv4 addresses, of a
/// record-number header by trying the numbers. The pseudonym keeps the bucket (so
/// `simulate` places the user as the proxy does) and groups one user's records.
@Suite struct DecisionPseudonymTests {
    static let routes = """
        listen http 127.0.0.1:0
        backend legacy {
            server 127.0.0.1:LEGACY
        }
        backend cloud {
            server 127.0.0.1:CLOUD
        }
        route app {
            split legacy 50% cloud 50%
            sticky header X-User
        }
        """

    static func plainHash(_ text: String) -> UInt64 {
        Array(text.utf8).withUnsafeBytes { StickyBucket.hash($0) }
    }

    static func storedKeys(_ path: String) throws -> [UInt64] {
        let bytes = try #require(FileManager.default.contents(atPath: path).map { [UInt8]($0) })
        #expect(Array(bytes[4..<8]) == [2, 0, 0, 0], "version 2")
        return try InventoryStore.decodeDecisions(bytes, DecisionPseudonym(key: (0, 0))).map(\.keyHash)
    }

    @Test func theStoredLogHoldsNoPlainHashOfAHeaderOrAnAddress() throws {
        let h = try AdminHarness(routes: Self.routes)
        defer { h.stop() }
        let client = try TestClient(port: h.port)
        for _ in 0..<3 { #expect(client.get("/chart", headers: "X-User: 1234567\r\n")?.status == 200) }
        #expect(client.get("/chart")?.status == 200, "no header: the client's address is the key")
        try h.service.inventoryStore.save(h.proxy)

        let keys = try Self.storedKeys(h.directory + "/decisions.bin")
        #expect(keys.count == 4)
        let header = Self.plainHash("1234567")
        let address = StickyBucket.hashOfClient(try #require(ClientAddress(parsing: "127.0.0.1")))
        #expect(!keys.contains(header) && !keys.contains(address), "a plain hash was stored: \(keys)")
        // One user's three requests share one pseudonym, with the bucket the proxy used.
        #expect(header % 10_000 != address % 10_000, "two buckets, told apart below")
        let user = keys.filter { $0 % 10_000 == header % 10_000 }
        #expect(user.count == 3 && Set(user).count == 1, "\(keys)")
        #expect(keys.contains { $0 % 10_000 == address % 10_000 && $0 != address })
        // The key: 16 bytes, for the service's user alone.
        var info = stat()
        #expect(stat(h.directory + "/decisions.key", &info) == 0 && info.st_size == 16 && info.st_mode & 0o777 == 0o600)
        // `simulate` still counts two users (the header's and the address's).
        let simulated = h.run("json simulate app cloud 100%")
        #expect(simulated.ok, "\(simulated.text)")
    }

    @Test func aVersionOneFileIsConvertedAsItIsRead() throws {
        let h = try AdminHarness(routes: Self.routes)
        defer { h.stop() }
        // A file as the previous release wrote it: plain hashes.
        let plain = Self.plainHash("1234567")
        let record = DecisionRecord(time: UInt32(Date().timeIntervalSince1970), route: DecisionRecord.nameHash("app"),
                                    keys: ReplayKeys(keyHash: plain), network: 0, clientKind: 1, method: 1, backend: 0)
        var bytes = InventoryStore.encodeDecisions([record, record])
        bytes[4] = 1
        try Data(bytes).write(to: URL(fileURLWithPath: h.directory + "/decisions.bin"))
        let restarted = try h.restartedService()
        let loaded = restarted.inventoryStore.baselineDecisions.map(\.keyHash)
        #expect(loaded.count == 2 && loaded[0] == loaded[1], "\(loaded)")
        #expect(loaded[0] != plain && loaded[0] % 10_000 == plain % 10_000, "\(loaded)")
        #expect(loaded[0] == restarted.inventoryStore.pseudonym.apply(plain))
    }

    @Test func thePseudonymKeepsTheBucketAndNeverBecomesNone() {
        let pseudonym = DecisionPseudonym(key: (0x0123_4567, 0x89ab_cdef))
        #expect(pseudonym.apply(0) == 0)
        for hash: UInt64 in [1, 9_999, 10_000, 123_456_789, .max, .max - 1_615, .max - 1_616] {
            let stored = pseudonym.apply(hash)
            #expect(stored != 0 && stored % 10_000 == hash % 10_000 && stored != hash, "\(hash) → \(stored)")
        }
        #expect(DecisionPseudonym(key: (1, 2)).apply(42) != DecisionPseudonym(key: (3, 4)).apply(42), "keyed")
    }
}
