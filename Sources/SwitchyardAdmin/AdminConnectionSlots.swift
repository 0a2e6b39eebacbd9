import Foundation
import SwitchyardRouting

/// How many admin connections are served at once, in all and per uid. Each connection holds
/// a thread; without a cap, a caller (or a stuck script) that opens connections and never
/// closes them would run the proxy out of threads and descriptors. Shared by the accept
/// thread (which takes slots) and the connection threads (which give them back): behind a lock.
final class AdminConnectionSlots: @unchecked Sendable {
    let limit: Int
    let perUIDLimit: Int
    private let lock = NSLock()
    /// Protected by `lock`.
    private var total = 0
    /// Protected by `lock`; no entry for a uid with no connection.
    private var perUID: [UInt32: Int] = [:]

    init(limit: Int, perUIDLimit: Int) {
        precondition(limit > 0 && perUIDLimit > 0, "the parser allows 1…10000")
        self.limit = limit
        self.perUIDLimit = perUIDLimit
    }

    /// Slots only callers who may change routing get (a quarter of the cap, at most 4):
    /// readers of the socket's group holding every connection open (a status loop, a stuck
    /// script) must not lock out the on-call operator in the middle of an incident.
    var reserved: Int { min(4, limit / 4) }

    /// Takes a slot for `uid`, or says why not (the one-line refusal). `mayChange`: whether
    /// the caller may change routing, asked only once the reserved slots are reached.
    func take(uid: UInt32, mayChange: () -> Bool = { true }) -> AdminError? {
        lock.lock()
        defer { lock.unlock() }
        if total >= limit {
            return AdminError("too many admin connections (\(limit) open); try again when one has finished")
        }
        if total >= limit - reserved && !mayChange() {
            return AdminError("too many admin connections (\(total) open; the last \(reserved) are kept for those who may change routing); try again when one has finished")
        }
        let mine = perUID[uid, default: 0]
        if mine >= perUIDLimit {
            return AdminError("too many admin connections from uid \(uid) (\(perUIDLimit) open); close one first")
        }
        total += 1
        perUID[uid] = mine + 1
        return nil
    }

    func give(uid: UInt32) {
        lock.lock()
        defer { lock.unlock() }
        precondition(total > 0 && perUID[uid, default: 0] > 0, "an admin slot given back twice")
        total -= 1
        perUID[uid] = perUID[uid]! == 1 ? nil : perUID[uid]! - 1
    }

    var open: Int {
        lock.lock()
        defer { lock.unlock() }
        return total
    }
}
