/// Case-insensitive ASCII comparisons, without allocation, for the proxy and the router.
/// Only the letters A–Z/a–z fold; every other byte must match exactly.
public enum ASCII {
    /// True when `a` spells the literal `lowercase` (which has no capital letters), ignoring
    /// the case of `a`'s letters. Only `a` is lowered: these compares run for every field
    /// line (names, Connection tokens, codings), and the literal is lowercase already.
    @inline(__always)
    public static func equalsIgnoringCase(_ a: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        let n = lowercase.utf8CodeUnitCount
        guard a.count == n else { return false }
        guard let pa = a.baseAddress, n > 0 else { return true }
        let pb = UnsafeRawPointer(lowercase.utf8Start)
        assert(hasNoCapital(pb, n), "the literal must be lowercase")
        return equalFolding(pa, pb, n, bIsLowercase: true)
    }

    /// A plain loop (a closure would allocate in the debug build, where asserts run).
    private static func hasNoCapital(_ p: UnsafeRawPointer, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            if p.load(fromByteOffset: i, as: UInt8.self) &- UInt8(ascii: "A") < 26 { return false }
            i &+= 1
        }
        return true
    }

    /// True when `a` and `b` have the same length and the same bytes, ignoring ASCII case.
    public static func equalsIgnoringCase(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard let pa = a.baseAddress, let pb = b.baseAddress else { return true }
        return equalFolding(pa, pb, a.count, bIsLowercase: false)
    }

    /// The comparison both overloads run on `n` bytes at `pa` and `pb`: `pa`'s letters
    /// lowered, `pb`'s too unless it is a lowercase literal; a word a step (names are
    /// compared on every field line); from four bytes, one word made of two overlapping
    /// four-byte halves ("host"); byte by byte below.
    @inline(__always)
    private static func equalFolding(_ pa: UnsafeRawPointer, _ pb: UnsafeRawPointer, _ n: Int, bIsLowercase: Bool) -> Bool {
        if n >= 8 {
            return WordScan.everyWord(count: n) {
                let b = WordScan.load(pb, $0)
                return WordScan.lowercased(WordScan.load(pa, $0)) == (bIsLowercase ? b : WordScan.lowercased(b))
            }
        }
        if n >= 4 {
            @inline(__always) func halves(_ p: UnsafeRawPointer) -> UInt64 {
                UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                    | UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self))) << 32
            }
            let b = halves(pb)
            return WordScan.lowercased(halves(pa)) == (bIsLowercase ? b : WordScan.lowercased(b))
        }
        var i = 0
        while i < n {
            let b = pb.load(fromByteOffset: i, as: UInt8.self)
            if lowercased(pa.load(fromByteOffset: i, as: UInt8.self)) != (bIsLowercase ? b : lowercased(b)) { return false }
            i &+= 1
        }
        return true
    }

    /// Exact, case-sensitive comparison with a literal: a word a step from eight bytes
    /// ("HTTP/1.1" on every start line is one compare), two overlapping four-byte loads from
    /// four (the methods), byte by byte below.
    @inline(__always)
    public static func equals(_ a: UnsafeRawBufferPointer, _ b: StaticString) -> Bool {
        let n = b.utf8CodeUnitCount
        guard a.count == n else { return false }
        guard let pa = a.baseAddress, n > 0 else { return true }
        let pb = UnsafeRawPointer(b.utf8Start)
        if n >= 8 {
            return WordScan.everyWord(count: n) { WordScan.load(pa, $0) == WordScan.load(pb, $0) }
        }
        if n >= 4 {
            return pa.loadUnaligned(as: UInt32.self) == pb.loadUnaligned(as: UInt32.self)
                && pa.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self) == pb.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self)
        }
        var i = 0
        while i < n {
            if pa.load(fromByteOffset: i, as: UInt8.self) != pb.load(fromByteOffset: i, as: UInt8.self) { return false }
            i &+= 1
        }
        return true
    }

    /// True when `a` starts with `prefix`, ignoring ASCII case.
    static func hasPrefixIgnoringCase(_ a: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard a.count >= n else { return false }
        return equalsIgnoringCase(UnsafeRawBufferPointer(rebasing: a[0..<n]), prefix)
    }

    @inline(__always)
    static func lowercased(_ c: UInt8) -> UInt8 {
        c &- UInt8(ascii: "A") < 26 ? c | 0x20 : c
    }
}
