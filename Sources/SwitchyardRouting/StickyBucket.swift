/// A user's bucket, 0…9999: FNV-1a (64-bit) over the sticky key's bytes, modulo 10000.
///
/// FNV-1a because it is tiny, allocation-free, stable across processes and releases (unlike
/// Swift's seeded `Hasher`, which would move every user at each restart), and spreads short
/// keys well enough that 100,000 users land within a few tenths of a percent of each share.
enum StickyBucket {
    static let count: UInt64 = 10_000
    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    @inline(__always)
    static func mix(_ hash: UInt64, _ byte: UInt8) -> UInt64 {
        (hash ^ UInt64(byte)) &* prime
    }

    static func of(_ bytes: UnsafeRawBufferPointer) -> Int { Int(hash(bytes) % count) }

    /// The 64-bit hash the bucket is taken from: the user's identity in the decision log.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        // Index loops throughout: see `RouteTable.route` on for-in in debug builds.
        var hash = offsetBasis
        var i = 0
        while i < bytes.count {
            hash = mix(hash, bytes[i])
            i += 1
        }
        return hash
    }

    /// The bucket of the cookie text the proxy will send for `value`: the same number
    /// `of(_:)` gives when that text comes back, computed without building the text.
    static func ofCookieValue(_ value: UInt64) -> Int { Int(hashOfCookieValue(value) % count) }

    static func hashOfCookieValue(_ value: UInt64) -> UInt64 {
        var hash = offsetBasis
        var i = 0
        while i < 16 {
            hash = mix(hash, hexDigit(of: value, at: i))
            i += 1
        }
        return hash
    }

    /// The client address in network byte order: 4 bytes for IPv4 (also for IPv4-mapped
    /// IPv6), 16 for IPv6, none for a Unix-socket client.
    static func ofClient(_ address: ClientAddress) -> Int { Int(hashOfClient(address) % count) }

    static func hashOfClient(_ address: ClientAddress) -> UInt64 {
        var hash = offsetBasis
        switch address.unmapped {
        case .v4(let a):
            hash = mixBigEndian(hash, UInt64(a), bytes: 4)
        case .v6(let high, let low):
            hash = mixBigEndian(mixBigEndian(hash, high, bytes: 8), low, bytes: 8)
        case .unix:
            break
        }
        return hash
    }

    @inline(__always)
    private static func mixBigEndian(_ hash: UInt64, _ value: UInt64, bytes: Int) -> UInt64 {
        var hash = hash
        var shift = (bytes - 1) * 8
        while shift >= 0 {
            hash = mix(hash, UInt8(truncatingIfNeeded: value >> UInt64(shift)))
            shift -= 8
        }
        return hash
    }

    /// The `index`-th (0 = most significant) lower-case hex digit of `value`, as ASCII.
    @inline(__always)
    static func hexDigit(of value: UInt64, at index: Int) -> UInt8 {
        let nibble = UInt8(truncatingIfNeeded: value >> UInt64((15 - index) * 4)) & 0xF
        return nibble < 10 ? 0x30 + nibble : 0x61 + nibble - 10
    }
}
