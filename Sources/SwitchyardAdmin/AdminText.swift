/// What the admin layer accepts and keeps of text from a command line.
enum AdminText {
    /// Characters refused anywhere in a command: C0 controls, DEL and C1 controls (they
    /// rewrite what a terminal shows, and a newline would start a second record or command),
    /// and the invisible and bidirectional format characters that make text read
    /// differently from what it is (U+200B–U+200F, U+202A–U+202E, U+2066–U+2069), with the
    /// line and paragraph separators and the byte-order mark for the same reason.
    static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x200B...0x200F, 0x2028...0x202E, 0x2066...0x2069, 0xFEFF: return true
        default: return false
        }
    }

    /// How a refused character is named in the one-line refusal.
    static func describe(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// `text` with each refused character replaced by U+FFFD: for text that did not come
    /// through a command line (another fleet member's document in etcd), so a newline or a
    /// bidirectional override cannot forge a line in the error log or turn what `history`
    /// shows around. Text our own commands wrote never changes.
    static func screened(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isRefused) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { out.append(isRefused(scalar) ? "\u{FFFD}" : scalar) }
        return String(out)
    }

    /// The longest text kept in the audit log and the history, in bytes.
    static let storedLimit = 512

    /// `text` cut to at most `storedLimit` bytes of UTF-8 (at a character boundary), saying
    /// it was cut and how long it was: a reason of 4,000 characters is the caller's to
    /// keep, not ours to write on every refusal.
    static func stored(_ text: String) -> String {
        let bytes = text.utf8.count
        guard bytes > storedLimit else { return text }
        var kept = ""
        var count = 0
        for character in text {
            let size = character.utf8.count
            if count + size > storedLimit { break }
            kept.append(character)
            count += size
        }
        return kept + " …[cut: \(bytes) bytes]"
    }
}
