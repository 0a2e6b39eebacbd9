/// The path a router compares, so that spellings a backend treats as one path cannot reach
/// a different route: `/%61uth/login`, `/./auth/login`, `//auth/login`, `/x/../auth/login`
/// and `/auth;x/login` all route as `/auth/login`. The request is still forwarded with the
/// bytes the client sent; only the routing decision (route prefixes and `cohort path`) reads
/// the normalised form.
///
/// The rules, in order, per segment between slashes:
/// 1. a literal `;` ends the segment's name (path parameters, as servlet containers read
///    `;jsessionid=…`): `auth;x` is `auth`;
/// 2. percent-encoded unreserved bytes (ALPHA, DIGIT, `-`, `.`, `_`, `~`; RFC 3986 §2.3) are
///    decoded; every other escape (`%2F` among them) stays as it was, since decoding it would
///    change what the path means;
/// 3. empty segments (`//`) are dropped — a trailing slash is kept;
/// 4. `.` and `..` segments are removed as in RFC 3986 §5.2.4; `..` at the root stays at the root.
public enum RoutingPath {
    /// Whether `path` could read differently once normalised. Cheap: most paths need nothing.
    @inline(__always)
    public static func needsNormalizing(_ path: UnsafeRawBufferPointer) -> Bool {
        guard path.count > 0, path[0] == Byte.slash else { return false }
        var i = 0
        let n = path.count
        while i < n {
            let c = path[i]
            if c == UInt8(ascii: "%") || c == UInt8(ascii: ";") { return true }
            if c == Byte.slash, i + 1 < n, path[i + 1] == Byte.slash || path[i + 1] == UInt8(ascii: ".") { return true }
            i += 1
        }
        return false
    }

    /// Writes the normalised form of `path` (which starts with '/') into `out` and returns its
    /// length. Normalising never lengthens a path, so `out` needs `path.count` bytes.
    public static func normalize(_ path: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        precondition(out.count >= path.count, "routing-path scratch smaller than the path")
        var length = 0
        var i = 1   // past the leading '/'
        let n = path.count
        var endsWithSlash = false
        while true {
            // One raw segment: path[i..<end].
            var end = i
            while end < n, path[end] != Byte.slash { end += 1 }
            var nameEnd = i
            while nameEnd < end, path[nameEnd] != UInt8(ascii: ";") { nameEnd += 1 }
            let isLast = end >= n
            // Decode into place after a provisional '/', then look at what it spells.
            let segmentStart = length + 1
            out[length] = Byte.slash
            var w = segmentStart
            var r = i
            while r < nameEnd {
                var c = path[r]
                if c == UInt8(ascii: "%"), r + 2 < nameEnd,
                   let high = ByteClass.hexValue(path[r + 1]), let low = ByteClass.hexValue(path[r + 2]) {
                    let decoded = UInt8(high << 4 | low)
                    if isUnreserved(decoded) {
                        c = decoded
                        r += 2
                    }
                }
                out[w] = c
                w += 1
                r += 1
            }
            let segmentLength = w - segmentStart
            let isDot = segmentLength == 1 && out[segmentStart] == UInt8(ascii: ".")
            let isDotDot = segmentLength == 2 && out[segmentStart] == UInt8(ascii: ".") && out[segmentStart + 1] == UInt8(ascii: ".")
            if isDotDot {
                // Drop the last kept segment (the root has none to drop).
                while length > 0 {
                    length -= 1
                    if out[length] == Byte.slash { break }
                }
                endsWithSlash = isLast
            } else if isDot || segmentLength == 0 {
                endsWithSlash = isLast
            } else {
                length = w
                endsWithSlash = false
            }
            if isLast { break }
            i = end + 1
        }
        if length == 0 || endsWithSlash {
            out[length] = Byte.slash
            length += 1
        }
        return length
    }

    /// unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3)
    @inline(__always)
    static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
