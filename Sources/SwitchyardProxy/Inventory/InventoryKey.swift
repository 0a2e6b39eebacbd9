import SwitchyardCompare
import SwitchyardRouting

/// The key of one inventory row, assembled in memory the worker owns: the route's name and
/// the row's parts, separated by a 0 byte, cut at `HeavyHitterTable.textCapacity`, plus the
/// caller's network for rows that are per network. Building it allocates nothing.
final class InventoryKey {
    let text: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    /// `InventoryNetwork.encoded`, or 0 for rows that are not per network.
    var network: UInt64 = 0

    init() {
        text = .allocate(capacity: HeavyHitterTable.textCapacity)
    }

    deinit { text.deallocate() }

    /// A hash of the text, its length and the network; never 0. Eight bytes a step (the
    /// key is hashed five times a request: byte-at-a-time FNV was ~600 instructions of it),
    /// finished with murmur3's fmix64 so `hash % sets` spreads keys evenly.
    var hash: UInt64 {
        let raw = UnsafeRawPointer(text)
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(count)
        var i = 0
        while i + 8 <= count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 29
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < count {
            tail |= UInt64(text[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xFF51_AFD7_ED55_8CCD
        h = (h ^ network) &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        h = h &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        return h == 0 ? 1 : h
    }

    /// Starts a key for `route` (its name's bytes), not per network.
    @inline(__always)
    func start(route: UnsafeRawBufferPointer) {
        count = 0
        network = 0
        append(route)
    }

    @inline(__always)
    func separator() { appendByte(0) }

    @inline(__always)
    func appendByte(_ byte: UInt8) {
        guard count < HeavyHitterTable.textCapacity else { return }
        text[count] = byte
        count += 1
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        let n = min(bytes.count, HeavyHitterTable.textCapacity - count)
        guard n > 0, let source = bytes.baseAddress else { return }
        UnsafeMutableRawPointer(text + count).copyMemory(from: source, byteCount: n)
        count += n
    }

    /// Lower-cased (host names compare case-insensitively).
    func appendLowercased(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        while i < bytes.count && count < HeavyHitterTable.textCapacity {
            let b = bytes[i]
            text[count] = b >= 0x41 && b <= 0x5A ? b | 0x20 : b
            count += 1
            i += 1
        }
    }

    func append(_ string: StaticString) {
        append(UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
    }

    /// A TLS server name fit to show: 1–253 bytes of letters, digits, '-', '.' and '_'
    /// (what host names are made of; '_' for the names some internal zones use).
    static func isServerName(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count > 0 && bytes.count <= 253 else { return false }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
                continue
            default:
                return false
            }
        }
        return true
    }

    /// The product token of a User-Agent value: its first name, up to `/`, a space or `(`
    /// (`Mozilla/5.0 (X11…)` → `Mozilla`, `okhttp/4.9` → `okhttp`); `-` when absent.
    func appendProduct(ofUserAgent value: UnsafeRawBufferPointer?) {
        append(Self.product(ofUserAgent: value))
    }

    /// The bytes `appendProduct` appends: the value's first bytes (at most 48), or `-` when
    /// there is no value or it starts with a delimiter.
    static func product(ofUserAgent value: UnsafeRawBufferPointer?) -> UnsafeRawBufferPointer {
        guard let value else { return noProduct }
        var i = 0
        while i < value.count && i < 48 {
            let b = value[i]
            if b == UInt8(ascii: "/") || b == UInt8(ascii: "(") || b < 0x21 || b > 0x7E { break }
            i += 1
        }
        return i > 0 ? UnsafeRawBufferPointer(rebasing: value[0..<i]) : noProduct
    }

    private static var noProduct: UnsafeRawBufferPointer {
        let dash: StaticString = "-"
        return UnsafeRawBufferPointer(start: dash.utf8Start, count: 1)
    }

    /// A path template: the path up to `?` or `#` (never the query), with each segment that
    /// looks like an identifier or may carry a person's data written `{id}` — the rule is
    /// `EndpointTemplate.isIdentifier`, the one the mirror comparison's report folds by.
    func appendTemplate(ofPath path: UnsafeRawBufferPointer) {
        var end = 0
        while end < path.count && path[end] != UInt8(ascii: "?") && path[end] != UInt8(ascii: "#") { end += 1 }
        var i = 0
        while i < end {
            if path[i] == UInt8(ascii: "/") { appendByte(path[i]) ; i += 1 ; continue }
            var j = i
            while j < end && path[j] != UInt8(ascii: "/") { j += 1 }
            let segment = UnsafeRawBufferPointer(rebasing: path[i..<j])
            if EndpointTemplate.isIdentifier(segment) { append("{id}") } else { append(segment) }
            i = j
        }
        if end == 0 { appendByte(UInt8(ascii: "/")) }
    }
}

/// A caller's network as one word: IPv6 /64 as its high 64 bits; IPv4 /24 (also
/// IPv4-mapped) as `ffff:ffff:a.b.c.0`, a block no IPv6 client comes from; a Unix-socket
/// client as all ones.
public enum InventoryNetwork {
    static let v4Tag: UInt64 = 0xFFFF_FFFF_0000_0000
    static let unixWord: UInt64 = .max

    public static func encoded(_ address: ClientAddress) -> UInt64 {
        switch address {
        case .v4(let a): return v4Tag | UInt64(a & 0xFFFF_FF00)
        case .v6(let high, let low):
            if high == 0 && low >> 32 == 0xFFFF { return v4Tag | UInt64(UInt32(truncatingIfNeeded: low) & 0xFFFF_FF00) }
            return high
        case .unix: return unixWord
        }
    }

    /// The network's first address (for `RouteTable.place`).
    public static func address(_ word: UInt64) -> ClientAddress {
        if word == unixWord { return .unix }
        if word & v4Tag == v4Tag { return .v4(UInt32(truncatingIfNeeded: word)) }
        return .v6(word, 0)
    }

    /// `192.0.2.0/24`, `2001:db8:1:2::/64`, `unix`.
    public static func text(_ word: UInt64) -> String {
        switch address(word) {
        case .unix: return "unix"
        case .v4(let a): return "\(ClientAddress.v4(a))/24"
        case .v6(let high, _): return "\(ClientAddress.v6(high, 0))/64"
        }
    }
}
