import Glibc
import SwitchyardRouting

/// One routed request as `simulate` needs it, and nothing more: when, which route, the
/// sticky key's hash and the cohort rules that matched (`ReplayKeys`), the caller's network,
/// the client's product token (hashed) and the method. No path, no header value, no body.
/// The plain sticky-key hash stays in memory: the admin side replaces it with a keyed
/// pseudonym before a record is stored or reported (`DecisionPseudonym`).
public struct DecisionRecord: Sendable, Equatable {
    /// Unix seconds.
    public var time: UInt32
    /// `DecisionRecord.nameHash` of the route's name.
    public var route: UInt32
    public var keyHash: UInt64
    public var cohortA: UInt32
    public var cohortB: UInt32
    /// `InventoryNetwork.encoded`.
    public var network: UInt64
    /// `DecisionRecord.nameHash` of the User-Agent's product token (`-` when none).
    public var clientKind: UInt32
    /// `HTTPMethod` raw value.
    public var method: UInt8
    /// The side the proxy chose (index into the table's backends then), for the record.
    public var backend: UInt8

    public init(time: UInt32, route: UInt32, keys: ReplayKeys, network: UInt64, clientKind: UInt32, method: UInt8, backend: UInt8) {
        self.time = time
        self.route = route
        keyHash = keys.keyHash
        cohortA = keys.cohortA
        cohortB = keys.cohortB
        self.network = network
        self.clientKind = clientKind
        self.method = method
        self.backend = backend
    }

    public var keys: ReplayKeys { ReplayKeys(keyHash: keyHash, cohortA: cohortA, cohortB: cohortB) }

    /// FNV-1a folded to 32 bits, never 0: how records name routes and client kinds.
    public static func nameHash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var i = 0
        while i < bytes.count { h = (h ^ UInt64(bytes[i])) &* 0x0000_0100_0000_01b3; i += 1 }
        let folded = UInt32(truncatingIfNeeded: h ^ (h >> 32))
        return folded == 0 ? 1 : folded
    }

    public static func nameHash(_ text: String) -> UInt32 {
        var copy = text
        return copy.withUTF8 { nameHash(UnsafeRawBufferPointer($0)) }
    }
}

/// A worker's ring of the last `capacity` decisions: the oldest is overwritten, nothing
/// grows. `capacity × MemoryLayout<DecisionRecord>.stride` bytes from `calloc`, resident only
/// as it fills. Recorded on the worker's loop thread only.
final class DecisionLog {
    let capacity: Int
    let records: UnsafeMutablePointer<DecisionRecord>
    /// Records written since start; the newest is at `(written - 1) % capacity`.
    private(set) var written: UInt64 = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        guard let block = calloc(self.capacity, MemoryLayout<DecisionRecord>.stride) else {
            preconditionFailure("decision log: cannot allocate \(capacity) records")
        }
        records = block.bindMemory(to: DecisionRecord.self, capacity: self.capacity)
    }

    deinit { free(records) }

    var bytes: Int { capacity * MemoryLayout<DecisionRecord>.stride }

    @inline(__always)
    func append(_ record: DecisionRecord) {
        records[Int(written % UInt64(capacity))] = record
        written &+= 1
    }

    /// Records kept now (at most `capacity`).
    var kept: Int { Int(min(written, UInt64(capacity))) }

    /// Copies the kept records, oldest first, into `target` (room for `capacity`); returns
    /// how many.
    func copy(into target: UnsafeMutablePointer<DecisionRecord>) -> Int {
        let n = kept
        let start = Int((written - UInt64(n)) % UInt64(capacity))
        let firstPart = min(n, capacity - start)
        target.update(from: records + start, count: firstPart)
        if n > firstPart { (target + firstPart).update(from: records, count: n - firstPart) }
        return n
    }
}
