/// SipHash-2-4 (Aumasson and Bernstein): a keyed 64-bit hash. The comparison's examples
/// show body hashes through it, keyed per installation (`compare.key`), so that a short,
/// guessable body ({"positive":true}) cannot be recovered from a stored example by hashing
/// candidates — a plain SHA-256 prefix could be. The decision log's user pseudonyms too
/// (`decisions.key`): a sticky key's plain hash gives back an IPv4 address in 2^32 tries.
public enum SipHash {
    public static func hash(key: (UInt64, UInt64), _ bytes: [UInt8]) -> UInt64 {
        var state = State(key)
        let whole = bytes.count / 8 * 8
        var i = 0
        while i < whole {
            var m: UInt64 = 0
            for j in 0..<8 { m |= UInt64(bytes[i + j]) << (8 * UInt64(j)) }
            state.compress(m)
            i += 8
        }
        var last = UInt64(truncatingIfNeeded: bytes.count) << 56
        for j in 0..<(bytes.count - whole) { last |= UInt64(bytes[whole + j]) << (8 * UInt64(j)) }
        state.compress(last)
        return state.finish()
    }

    /// The hash of one 64-bit word's eight little-endian bytes, without building them: the
    /// same value `hash(key:_:)` gives for those bytes (a test holds the two together).
    public static func hash(key: (UInt64, UInt64), word: UInt64) -> UInt64 {
        var state = State(key)
        state.compress(word)
        state.compress(8 << 56)
        return state.finish()
    }

    private struct State {
        var v0, v1, v2, v3: UInt64

        init(_ key: (UInt64, UInt64)) {
            v0 = 0x736f_6d65_7073_6575 ^ key.0
            v1 = 0x646f_7261_6e64_6f6d ^ key.1
            v2 = 0x6c79_6765_6e65_7261 ^ key.0
            v3 = 0x7465_6462_7974_6573 ^ key.1
        }

        @inline(__always) mutating func round() {
            v0 = v0 &+ v1; v1 = (v1 << 13) | (v1 >> 51); v1 ^= v0; v0 = (v0 << 32) | (v0 >> 32)
            v2 = v2 &+ v3; v3 = (v3 << 16) | (v3 >> 48); v3 ^= v2
            v0 = v0 &+ v3; v3 = (v3 << 21) | (v3 >> 43); v3 ^= v0
            v2 = v2 &+ v1; v1 = (v1 << 17) | (v1 >> 47); v1 ^= v2; v2 = (v2 << 32) | (v2 >> 32)
        }

        /// One 8-byte block, two compression rounds.
        @inline(__always) mutating func compress(_ m: UInt64) {
            v3 ^= m
            round(); round()
            v0 ^= m
        }

        @inline(__always) mutating func finish() -> UInt64 {
            v2 ^= 0xff
            round(); round(); round(); round()
            return v0 ^ v1 ^ v2 ^ v3
        }
    }
}
