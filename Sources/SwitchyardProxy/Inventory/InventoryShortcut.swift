import Glibc
import SwitchyardHTTP

/// The inventory rows a connection writes with every request that are the same for all of
/// its requests on one route: the caller (route, network), the SNI name and the protocol.
/// The first request records them as usual and keeps their slots here; the next ones on
/// the same route of the same table count straight into those slots — no key built, no
/// hash — as long as each slot still holds its key (`HeavyHitterTable.kept`): a slot taken
/// by another key meanwhile is recorded again the long way.
///
/// The host and client (User-Agent product) rows usually repeat too, but a request may
/// name another: their slots are used only when the slot's key text, after the route's
/// name and separator, is this request's host (ignoring case, as the key is lowercased) or
/// product, byte for byte (`countIfText`) — a compare of a few words instead of a key
/// built, hashed and looked up.
///
/// Per connection (an HTTP/2 stream driver keeps its own); touched on the worker's loop
/// thread only, like the tables it points into, which live as long as the worker.
struct InventoryShortcut {
    /// The table generation and route the slots were recorded for; route −1: none.
    var generation: UInt64 = 0
    var route = -1
    /// The protocol row depends on the request's version (HTTP/1.0 and 1.1 may share a
    /// connection).
    var http10 = false
    var caller: UnsafeMutablePointer<UInt64>?
    var callerHash: UInt64 = 0
    var serverName: UnsafeMutablePointer<UInt64>?
    var serverNameHash: UInt64 = 0
    /// The TLS client sent no SNI name (it connected to an address): there is no row, and
    /// nothing to look up again.
    var noServerName = false
    var protocolRow: UnsafeMutablePointer<UInt64>?
    var protocolHash: UInt64 = 0
    var host: UnsafeMutablePointer<UInt64>?
    var hostHash: UInt64 = 0
    var client: UnsafeMutablePointer<UInt64>?
    var clientHash: UInt64 = 0
    /// `DecisionRecord.nameHash` of the client row's product, for the decision log.
    var clientKind: UInt32 = 0
    /// `DecisionRecord.nameHash` of the route's name, for the decision log: the same for
    /// every request while `matches` holds.
    var routeHash: UInt32 = 0

    /// True when the slots were recorded for this route of this table and this version.
    @inline(__always)
    func matches(generation: UInt64, route: Int, http10: Bool) -> Bool {
        self.route == route && self.generation == generation && self.http10 == http10
    }

    /// Counts one more request in `slot` if it still holds `hash`; false when it does not.
    @inline(__always)
    static func count(_ table: HeavyHitterTable, _ slot: UnsafeMutablePointer<UInt64>?, _ hash: UInt64, now: UInt64) -> Bool {
        guard let s = table.kept(slot, hash: hash) else { return false }
        HeavyHitterTable.bump(s, now: now)
        return true
    }

    /// Counts one more request in `slot` if it still holds `hash` and its key's text past
    /// the first `prefix` bytes (route name, separator) is `part` — ignoring ASCII case when
    /// `foldingCase`, else exactly; false otherwise (the caller records the long way). A
    /// key cut at `HeavyHitterTable.textCapacity` never matches: its text is shorter.
    @inline(__always)
    static func countIfText(_ table: HeavyHitterTable, _ slot: UnsafeMutablePointer<UInt64>?, _ hash: UInt64,
                            prefix: Int, part: UnsafeRawBufferPointer, foldingCase: Bool, now: UInt64) -> Bool {
        guard let s = table.kept(slot, hash: hash),
              s[HeavyHitterTable.Word.textCount] == UInt64(prefix &+ part.count) else { return false }
        let text = UnsafeRawBufferPointer(start: UnsafeRawPointer(s) + HeavyHitterTable.textOffset + prefix, count: part.count)
        let same: Bool
        if foldingCase {
            // The key's text was lowercased when it was recorded.
            same = ASCII.equalsIgnoringCase(part, lowercased: text)
        } else if let a = part.baseAddress, let b = text.baseAddress {
            same = memcmp(a, b, part.count) == 0
        } else {
            same = part.count == 0
        }
        guard same else { return false }
        HeavyHitterTable.bump(s, now: now)
        return true
    }
}
