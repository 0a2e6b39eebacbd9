import SwitchyardHTTP

/// The request ID: the client's `X-Request-ID` when it is a sane token, otherwise one
/// minted here. It is logged (`request_id`) and sent upstream as `X-Request-ID`, so a
/// backend's log line and ours can be joined.
///
/// A client's value is kept only when it is 1…`maxLength` bytes of `A-Z a-z 0-9 - _ . :`
/// (UUIDs, ULIDs, Envoy's, AWS's and most tracing IDs fit): anything else — longer, with
/// quotes, spaces, slashes or control bytes — could smuggle text into log lines or headers,
/// and is replaced rather than escaped or cut, because an ID that was changed no longer
/// joins anything.
enum RequestID {
    static let maxLength = 64
    /// A minted ID: 32 lower-case hex digits (128 bits).
    static let mintedLength = 32
    /// The header, as written upstream.
    static let headerName: StaticString = "X-Request-ID"

    /// Whether `bytes` may be kept as an ID.
    static func isSane(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard (1...maxLength).contains(bytes.count) else { return false }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                 UInt8(ascii: "."), UInt8(ascii: ":"):
                continue
            default:
                return false
            }
        }
        return true
    }

    /// Whether a header name is `X-Request-ID` (any case, `_` for `-`: a backend that folds
    /// `X_Request_ID` into the same variable would read the client's value beside ours).
    @inline(__always)
    static func isHeaderName(_ name: UnsafeRawBufferPointer) -> Bool {
        ASCII.equalsAsFieldName(name, "x-request-id")
    }

    /// Writes a minted ID (`high` then `low` as 16 hex digits each) at `destination`, which
    /// has room for `mintedLength` bytes. The worker's generator (splitmix64) is a bijection
    /// of a per-worker counter, so two values drawn by one worker never repeat within 2^64
    /// draws; its seed comes from getrandom, so workers and restarts do not share sequences.
    static func mint(high: UInt64, low: UInt64, into destination: UnsafeMutableRawPointer) {
        destination.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: high >> 32)), toByteOffset: 0, as: UInt64.self)
        destination.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: high)), toByteOffset: 8, as: UInt64.self)
        destination.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: low >> 32)), toByteOffset: 16, as: UInt64.self)
        destination.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: low)), toByteOffset: 24, as: UInt64.self)
    }

    /// The eight lower-case hex digits of `value`, most significant first, as the eight bytes
    /// of a word in memory order: each nibble spread into a byte of its own, then '0' added,
    /// and 'a' − '0' − 10 more where the nibble is ten or above — a word at a time, not a
    /// table lookup per digit (a fifth of the instructions; `RequestIDTests` checks it
    /// against `String(_:radix:)`).
    @inline(__always)
    static func hexDigits(_ value: UInt32) -> UInt64 {
        var v = UInt64(value)
        v = ((v & 0xFFFF_0000) << 16) | (v & 0xFFFF)
        v = ((v & 0x0000_FF00_0000_FF00) << 8) | (v & 0x0000_00FF_0000_00FF)
        v = ((v & 0x00F0_00F0_00F0_00F0) << 4) | (v & 0x000F_000F_000F_000F)
        // Byte k now holds nibble k counted from the least significant: reverse for text.
        v = v.byteSwapped
        let letters = ((v &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
        return (v &+ 0x3030_3030_3030_3030 &+ letters &* 0x27).littleEndian
    }
}
