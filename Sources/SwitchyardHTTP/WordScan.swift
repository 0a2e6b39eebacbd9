/// Eight bytes at a time ("SWAR": SIMD within a register) for the loops every head goes
/// through: field values are validated and names compared a word per step instead of a
/// byte per step. Each function is exact for all 256 byte values; `WordScanTests` checks
/// them against the byte-wise definitions on every byte value in every lane.
enum WordScan {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080

    /// The eight bytes at `p + offset`, the first in the low byte.
    @inline(__always)
    static func load(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// True when every byte of `w` is a field-value byte other than HTAB: 0x20–0x7E or
    /// 0x80–0xFF. A word with a HTAB, another CTL or DEL answers false and is looked at
    /// byte by byte (`ByteClass.isFieldValueChar`), which is rare.
    ///
    /// "Some byte is below 0x20" is `(w − 0x20…20) & ~w & 0x80…80` ≠ 0: a lane's high bit is
    /// set only when that lane wrapped below zero or a lower lane's borrow reached it, and a
    /// borrow starts only in a lane that is below 0x20, so the answer (not the lane) is
    /// exact; bytes ≥ 0x80 have their high bit cleared by `~w` and are never flagged. DEL
    /// is the same test for zero on `w ^ 0x7F…7F`.
    @inline(__always)
    static func isPlainFieldValue(_ w: UInt64) -> Bool {
        specialLanes(w) == 0
    }

    /// The lanes of `w` holding a byte below 0x20 or DEL, as their high bits; zero when every
    /// byte is a field-value byte other than HTAB. Only the lowest flagged lane is exact (a
    /// borrow can flag a lane above a true one), which is all a scan for the first such
    /// byte needs: the argument is `isPlainFieldValue`'s.
    @inline(__always)
    static func specialLanes(_ w: UInt64) -> UInt64 {
        let belowSpace = (w &- ones &* 0x20) & ~w & highs
        let x = w ^ (ones &* 0x7F)
        return belowSpace | ((x &- ones) & ~x & highs)
    }

    /// The lanes of `w` whose byte is not an ASCII letter, digit or "-" — the bytes nearly
    /// every field name is made of — as their high bits. Exact in every lane: each range
    /// test adds to the low seven bits of its own lane only (at most 0x7F + 0x80), so no
    /// carry crosses lanes; bytes ≥ 0x80 are flagged by `~w`'s high bit being clear.
    @inline(__always)
    static func nonNameLanes(_ w: UInt64) -> UInt64 {
        @inline(__always) func atLeast(_ h: UInt64, _ low: UInt8) -> UInt64 {
            (h &+ ones &* UInt64(0x80 &- low)) & highs
        }
        let h = w & ~highs
        let folded = (w | ones &* 0x20) & ~highs   // letters in lower case; digits and "-" keep
        let letter = atLeast(folded, 0x61) & ~atLeast(folded, 0x7B)
        let digit = atLeast(h, 0x30) & ~atLeast(h, 0x3A)
        let dash = atLeast(h, 0x2D) & ~atLeast(h, 0x2E)
        return ~((letter | digit | dash) & ~w) & highs
    }

    /// Calls `body` with the offset of each eight-byte word of a run of `count` ≥ 8 bytes —
    /// 0, 8, 16, …, then `count − 8` (overlapping the word before it) when `count` is not a
    /// multiple of eight — until `body` answers false. True when every call answered true.
    /// The one word walk the scans, comparisons and copies below share.
    @inline(__always)
    static func everyWord(count: Int, _ body: (Int) -> Bool) -> Bool {
        precondition(count >= 8, "a word walk needs at least eight bytes")
        var i = 0
        while i &+ 8 <= count {
            guard body(i) else { return false }
            i &+= 8
        }
        return i == count || body(count &- 8)
    }

    /// The first byte in `b[from..<to]` that may not be in a field value (a CTL other than
    /// HTAB, or DEL), or nil: a word per step; only a run with a word that needs a closer
    /// look (rare: a HTAB, a CTL, DEL) is looked at byte by byte.
    @inline(__always)
    static func firstNonFieldValueByte(_ b: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        if let p = b.baseAddress, to &- from >= 8,
           everyWord(count: to &- from, { isPlainFieldValue(load(p, from &+ $0)) }) {
            return nil
        }
        var j = from
        while j < to {
            if !ByteClass.isFieldValueChar(b[j]) { return j }
            j &+= 1
        }
        return nil
    }

    /// `w` with the ASCII letters A–Z of every lane made lower case; every other byte kept.
    ///
    /// Per lane, on its low seven bits h (so no lane carries into the next): h + (0x80 − 'A')
    /// has its high bit set when h ≥ 'A', h + (0x80 − 'Z' − 1) when h > 'Z'; their XOR is
    /// set for 'A'…'Z', masked with ~w to drop bytes ≥ 0x80; shifted to 0x20, it is the bit
    /// that makes the letter lower case.
    @inline(__always)
    static func lowercased(_ w: UInt64) -> UInt64 {
        let h = w & ~highs
        let atLeastA = h &+ ones &* UInt64(0x80 - 0x41)
        let aboveZ = h &+ ones &* UInt64(0x80 - 0x5B)
        let upper = (atLeastA ^ aboveZ) & ~w & highs
        return w | (upper >> 2)
    }
}
