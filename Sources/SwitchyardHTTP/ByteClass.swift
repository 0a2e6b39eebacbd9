/// Byte classes from the HTTP grammar (RFC 9110 §5.6, RFC 9112, RFC 3986).
enum ByteClass {
    /// tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" /
    /// "|" / "~" / DIGIT / ALPHA.
    ///
    /// One bit per byte below 128 (`tokenLow` for 0–63, `tokenHigh` for 64–127): a shift and
    /// a mask per byte instead of a dozen compares, in the loop every field name goes
    /// through. `ByteClassTests` checks the masks against the grammar's list byte by byte.
    @inline(__always)
    static func isTokenChar(_ c: UInt8) -> Bool {
        if c < 64 { return (tokenLow >> UInt64(c)) & 1 != 0 }
        if c < 128 { return (tokenHigh >> UInt64(c &- 64)) & 1 != 0 }
        return false
    }
    static let tokenLow: UInt64 = 0x03ff_6cfa_0000_0000
    static let tokenHigh: UInt64 = 0x57ff_ffff_c7ff_fffe

    /// field-vchar / SP / HTAB: VCHAR, obs-text (0x80–0xFF), SP, HTAB. Excludes NUL, the other
    /// CTLs, and DEL.
    @inline(__always)
    static func isFieldValueChar(_ c: UInt8) -> Bool {
        c == 0x09 || (c >= 0x20 && c != 0x7F)
    }

    /// A byte allowed in a request-target: VCHAR only (no CTL, no SP, no DEL, nothing >= 0x80).
    @inline(__always)
    static func isTargetChar(_ c: UInt8) -> Bool {
        c > 0x20 && c < 0x7F
    }

    @inline(__always)
    static func isDigit(_ c: UInt8) -> Bool {
        c &- UInt8(ascii: "0") < 10
    }

    /// The value of a hex digit, or nil.
    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// SP or HTAB (RFC 9110 OWS).
    @inline(__always)
    static func isWhitespace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09
    }

    /// unreserved (RFC 3986): ALPHA / DIGIT / "-" / "." / "_" / "~".
    @inline(__always)
    static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}

/// Bytes the parsers compare against, named for reading.
enum Byte {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let sp: UInt8 = 0x20
    static let htab: UInt8 = 0x09
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let semicolon = UInt8(ascii: ";")
    static let slash = UInt8(ascii: "/")
    static let question = UInt8(ascii: "?")
    static let hash = UInt8(ascii: "#")
}
