/// An endpoint as the report names it: method and path template, the query never kept.
///
/// The rule is one function, `isIdentifier`, shared with the inventory
/// (`InventoryKey.appendTemplate` in SwitchyardProxy calls it on the data plane's raw bytes):
/// a path segment that is all digits, a UUID (8-4-4-4-12 hex), 16 or more hex digits with
/// at least one digit, 8+ bytes mixing digits and letters, any with four or more digits (a
/// record number: E12345, MRN0042; a date, a phone or social security number; a list of
/// record numbers), one holding `@`, `;`, `=`, `%` or a control byte, or one over 32 bytes is
/// written `{id}` — ids and anything that may carry a person's data
/// (an e-mail, a record number, a token) never reach a report. `CompareEndpointRuleTests`
/// (SwitchyardAdminTests) checks that both build the same templates.
public enum EndpointTemplate {
    public static func fold(method: String, path: String) -> String {
        method + " " + template(path)
    }

    public static func template(_ path: String) -> String {
        let bytes = Array(path.utf8)
        var end = 0
        while end < bytes.count && bytes[end] != UInt8(ascii: "?") && bytes[end] != UInt8(ascii: "#") { end += 1 }
        if end == 0 { return "/" }
        var out: [UInt8] = []
        var i = 0
        while i < end {
            if bytes[i] == UInt8(ascii: "/") { out.append(bytes[i]); i += 1; continue }
            var j = i
            while j < end && bytes[j] != UInt8(ascii: "/") { j += 1 }
            let segment = bytes[i..<j]
            if segment.withUnsafeBytes({ isIdentifier($0) }) { out += Array("{id}".utf8) } else { out += segment }
            i = j
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether a path segment is written `{id}` (the rule in the type's doc). Pure and
    /// allocation-free: the inventory calls it for every segment of every request's path.
    public static func isIdentifier(_ s: UnsafeRawBufferPointer) -> Bool {
        if s.isEmpty { return false }
        if s.count > 32 { return true }
        var digits = 0, hex = 0, dashes = 0, letters = 0, separators = 0, other = false
        for b in s {
            if b >= 0x30 && b <= 0x39 { digits += 1; hex += 1 }
            else if (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46) { hex += 1; letters += 1 }
            else if (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) { letters += 1; other = true }
            else if b == UInt8(ascii: "-") { dashes += 1 }
            else if b == UInt8(ascii: ".") || b == UInt8(ascii: "+") || b == UInt8(ascii: "_") || b == UInt8(ascii: "(") || b == UInt8(ascii: ")") { separators += 1 }
            else if b == UInt8(ascii: "@") || b == UInt8(ascii: ";") || b == UInt8(ascii: "=") || b == UInt8(ascii: "%") || b < 0x20 || b == 0x7F { return true }
            else { other = true }
        }
        if digits > 0 && letters > 0 && s.count >= 8 { return true }
        // Four digits or more, whatever lies around them: a record number (E12345, MRN0042),
        // a social security number, a date of birth, a phone number, an address
        // (123-45-6789, 1984-03-12, 555.123.4567, +15551234567, 10.0.0.1), a list of record
        // numbers (1234567,7654321), a time (12:30:00).
        if digits >= 4 { return true }
        if other || separators > 0 { return false }
        if digits == s.count { return true }
        if s.count == 36 && dashes == 4 && s[8] == 0x2D && s[13] == 0x2D && s[18] == 0x2D && s[23] == 0x2D { return true }
        return dashes == 0 && hex >= 16 && digits > 0
    }
}
