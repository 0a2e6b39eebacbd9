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
        return equalFolding(pa, pb, n, foldA: true, foldB: false)
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
        return equalFolding(pa, pb, a.count, foldA: true, foldB: true)
    }

    /// Field-name equality as backends that fold `_` into `-` read names (CGI-style servers:
    /// `X_Request_ID` is `HTTP_X_REQUEST_ID`, as `X-Request-ID` is): case and `_`/`-` ignored.
    /// Byte by byte: only for names that already matched in length. Inlined, so that the
    /// length check — which settles almost every call, one per field line — costs no call
    /// (out of line it was about a hundred instructions a proxied request, callgrind).
    @inlinable @inline(__always)
    public static func equalsAsFieldName(_ name: UnsafeRawBufferPointer, _ lowercaseLiteral: StaticString) -> Bool {
        guard name.count == lowercaseLiteral.utf8CodeUnitCount else { return false }
        let p = lowercaseLiteral.utf8Start
        for i in 0..<name.count where fieldNameFolded(name[i]) != p[i] { return false }
        return true
    }

    /// The same between two names read at run time (a configured field name, `_` folded on
    /// both sides).
    public static func equalsAsFieldName(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var i = 0
        while i < a.count {
            if fieldNameFolded(a[i]) != fieldNameFolded(b[i]) { return false }
            i += 1
        }
        return true
    }

    /// A field name's byte as the two compares above read it: lowercased, `_` as `-`.
    @inline(__always) @usableFromInline
    static func fieldNameFolded(_ c: UInt8) -> UInt8 {
        let lower = lowercased(c)
        return lower == UInt8(ascii: "_") ? UInt8(ascii: "-") : lower
    }

    /// True when `a` and `lowercased` (which has no capital letters) have the same length
    /// and the same bytes, ignoring the case of `a`'s letters: for text kept lowercased,
    /// such as an inventory key, which need not be folded again.
    public static func equalsIgnoringCase(_ a: UnsafeRawBufferPointer, lowercased b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard let pa = a.baseAddress, let pb = b.baseAddress else { return true }
        assert(hasNoCapital(pb, b.count), "the lowercased side has a capital letter")
        return equalFolding(pa, pb, a.count, foldA: true, foldB: false)
    }

    /// The comparison every overload runs on `n` bytes at `pa` and `pb`, letters lowered on
    /// the sides that fold (`equals` folds neither, a lowercase literal is not folded): a
    /// word a step (names are compared on every field line); from four bytes, one word made
    /// of two overlapping four-byte halves ("host", the methods); byte by byte below.
    @inline(__always)
    private static func equalFolding(_ pa: UnsafeRawPointer, _ pb: UnsafeRawPointer, _ n: Int, foldA: Bool, foldB: Bool) -> Bool {
        @inline(__always) func fold(_ w: UInt64, _ on: Bool) -> UInt64 { on ? WordScan.lowercased(w) : w }
        if n >= 8 {
            return WordScan.everyWord(count: n) {
                fold(WordScan.load(pa, $0), foldA) == fold(WordScan.load(pb, $0), foldB)
            }
        }
        if n >= 4 {
            @inline(__always) func halves(_ p: UnsafeRawPointer) -> UInt64 {
                UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                    | UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self))) << 32
            }
            return fold(halves(pa), foldA) == fold(halves(pb), foldB)
        }
        var i = 0
        while i < n {
            let a = pa.load(fromByteOffset: i, as: UInt8.self), b = pb.load(fromByteOffset: i, as: UInt8.self)
            if (foldA ? lowercased(a) : a) != (foldB ? lowercased(b) : b) { return false }
            i &+= 1
        }
        return true
    }

    /// Exact, case-sensitive comparison with a literal ("HTTP/1.1" on every start line is
    /// one word compare).
    @inline(__always)
    public static func equals(_ a: UnsafeRawBufferPointer, _ b: StaticString) -> Bool {
        let n = b.utf8CodeUnitCount
        guard a.count == n else { return false }
        guard let pa = a.baseAddress, n > 0 else { return true }
        return equalFolding(pa, UnsafeRawPointer(b.utf8Start), n, foldA: false, foldB: false)
    }

    /// True when `a` starts with `prefix`, ignoring ASCII case.
    static func hasPrefixIgnoringCase(_ a: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard a.count >= n else { return false }
        return equalsIgnoringCase(UnsafeRawBufferPointer(rebasing: a[0..<n]), prefix)
    }

    @inline(__always) @usableFromInline
    static func lowercased(_ c: UInt8) -> UInt8 {
        c &- UInt8(ascii: "A") < 26 ? c | 0x20 : c
    }
}
