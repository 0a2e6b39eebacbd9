import CSwitchyardHeadScan

/// One field line: `field-name ":" OWS field-value OWS` (RFC 9112 §5).
enum FieldLine {
    /// Splits the line `[start, cr)` into name and trimmed value, validating both.
    ///
    /// Rejected (400): a line starting with SP/HTAB (obs-fold, or whitespace before the first
    /// field: both let two parsers see different fields), an empty name, any non-token byte
    /// in the name (whitespace before the colon included, RFC 9112 §5.1), a missing colon,
    /// and NUL, other CTLs and DEL in the value. `plain`: the line scan already saw no
    /// control byte or DEL in the line (`LineScanner`), so the value is not scanned again.
    static func parse(_ b: UnsafeRawBufferPointer, start: Int, cr: Int, plain: Bool = false) throws(ParseFailure)
        -> (name: ByteSpan, value: ByteSpan)
    {
        precondition(start < cr, "empty lines end the head and are not field lines")
        if ByteClass.isWhitespace(b[start]) {
            throw ParseFailure(400, "field line starts with whitespace (obs-fold is not accepted)", at: start)
        }
        var i = start
        // Letters, digits and "-" (token bytes, and what names are made of) are skipped
        // sixteen bytes at a time (SSE2: most names end in the first step), then a word at a
        // time; the byte loop goes on from the first other byte, usually the colon.
        if let p = b.baseAddress {
            skipping: do {
                while cr &- i >= 16 {
                    let lanes = sy_head_non_name16(p + i)
                    if lanes != 0 {
                        i &+= lanes.trailingZeroBitCount
                        break skipping
                    }
                    i &+= 16
                }
                while cr &- i >= 8 {
                    let lanes = WordScan.nonNameLanes(WordScan.load(p, i))
                    if lanes != 0 {
                        i &+= lanes.trailingZeroBitCount >> 3
                        break skipping
                    }
                    i &+= 8
                }
            }
        }
        // The colon is not a token byte: the name ends at the first byte that is not one.
        while i < cr, ByteClass.isTokenChar(b[i]) { i += 1 }
        guard i < cr else { throw ParseFailure(400, "field line without a colon", at: start) }
        if b[i] != Byte.colon {
            if ByteClass.isWhitespace(b[i]) {
                throw ParseFailure(400, "whitespace in or after a field name", at: i)
            }
            throw ParseFailure(400, "invalid byte in a field name", at: i)
        }
        guard i > start else { throw ParseFailure(400, "empty field name", at: start) }
        let name = ByteSpan(from: start, to: i)

        var valueStart = i + 1
        while valueStart < cr, ByteClass.isWhitespace(b[valueStart]) { valueStart += 1 }
        // Validate first, trim trailing whitespace after.
        if !plain, let bad = WordScan.firstNonFieldValueByte(b, from: valueStart, to: cr) {
            throw ParseFailure(400, "control byte in a field value", at: bad)
        }
        var valueEnd = cr
        while valueEnd > valueStart, ByteClass.isWhitespace(b[valueEnd - 1]) { valueEnd -= 1 }
        return (name, ByteSpan(from: valueStart, to: valueEnd))
    }
}
