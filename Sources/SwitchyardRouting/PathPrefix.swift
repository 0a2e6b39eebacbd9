/// Path prefixes as routes files and admin commands give them (route `path`, `cohort path`,
/// `hold except`). Requests are compared after `RoutingPath` normalises them, so a prefix
/// written in another spelling (`/%7Estaff`, `/api;v=2`, `/a//b`, `/a/./b`) could never
/// match: such a prefix is refused, with the spelling that would.
public enum PathPrefix {
    /// nil when `prefix` is in the form requests are compared in; else the message, naming
    /// the normal form. `prefix` starts with '/'.
    public static func problem(_ prefix: String) -> String? {
        let normal = normalized(prefix)
        guard normal != prefix else { return nil }
        return "path prefix \"\(prefix)\" would never match: requests are routed by their normalised path (escapes of letters, digits and -._~ decoded, ;parameters, empty, . and .. segments removed); write \"\(normal)\""
    }

    /// The same rules as `RoutingPath.normalize` (SwitchyardHTTP, on request bytes), on text:
    /// per segment, `;` ends the name, escapes of unreserved bytes are decoded, empty and `.`
    /// segments go, `..` drops the segment before it; a trailing slash is kept.
    static func normalized(_ prefix: String) -> String {
        let bytes = Array(prefix.utf8)
        var segments: [[UInt8]] = []
        var endsWithSlash = false
        var i = 1
        while true {
            var end = i
            while end < bytes.count, bytes[end] != UInt8(ascii: "/") { end += 1 }
            let isLast = end >= bytes.count
            var nameEnd = i
            while nameEnd < end, bytes[nameEnd] != UInt8(ascii: ";") { nameEnd += 1 }
            var name: [UInt8] = []
            var r = i
            while r < nameEnd {
                var c = bytes[r]
                if c == UInt8(ascii: "%"), r + 2 < nameEnd, let high = hex(bytes[r + 1]), let low = hex(bytes[r + 2]),
                   isUnreserved(high << 4 | low) {
                    c = high << 4 | low
                    r += 2
                }
                name.append(c)
                r += 1
            }
            if name == [UInt8(ascii: "."), UInt8(ascii: ".")] {
                if !segments.isEmpty { segments.removeLast() }
                endsWithSlash = isLast
            } else if name.isEmpty || name == [UInt8(ascii: ".")] {
                endsWithSlash = isLast
            } else {
                segments.append(name)
                endsWithSlash = false
            }
            if isLast { break }
            i = end + 1
        }
        var out: [UInt8] = []
        for segment in segments { out.append(UInt8(ascii: "/")); out += segment }
        if out.isEmpty || endsWithSlash { out.append(UInt8(ascii: "/")) }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
