import CSwitchyardHeadScan

/// Finds the end of one head line, enforcing CRLF line endings.
///
/// We reject a bare LF and a bare CR anywhere in a head (400). RFC 9112 §2.2 allows a
/// recipient to accept a bare LF as a line end, but servers disagree about it, and a proxy
/// that reads line ends differently from the server behind it is a request-smuggling vector;
/// every sender we care about writes CRLF.
enum LineScanner {
    enum Outcome: Equatable {
        /// A complete line; its CR is at `cr` and its LF right after. `plain`: every byte
        /// scanned before the CR is a field-value byte other than HTAB (0x20–0x7E, 0x80–0xFF),
        /// so a field line's value needs no second look for control bytes.
        case line(cr: Int, plain: Bool)
        /// The line is not complete in the bytes given; resume scanning at `resumeAt`.
        case needMore(resumeAt: Int)
        /// The line cannot end before `stop`: a size limit is exceeded.
        case limit
    }

    /// Scans `b` from `from` for CRLF. The line's LF must stay below index `stop`, so its CR
    /// must come by `stop - 2`: any other byte there proves the limit is exceeded, before the
    /// line ends. Bytes before `from` were scanned by an earlier call.
    ///
    /// One pass, sixteen bytes per step (SSE2, `sy_head_special16`), then a word, then a
    /// byte for the last few: CR and LF are control bytes, so the scan looks for the first
    /// byte below 0x20 or DEL and only such a byte is looked at alone. It used to be two
    /// `memchr`s (CR, then LF before it) and a third pass over the value in `FieldLine`; on
    /// the short lines of a head the calls cost more than the bytes. Sixteen lanes instead
    /// of eight halve the steps of a typical 20-40 byte line, and a step is fewer
    /// instructions (the word test's four 64-bit constants are reloaded on every step).
    @inline(__always)
    static func scan(_ b: UnsafeRawBufferPointer, from: Int, stop: Int) throws(ParseFailure) -> Outcome {
        let lastCR = stop - 2
        let end = min(b.count, lastCR + 1)
        var plain = true
        var i = from
        if let base = b.baseAddress {
            while i < end {
                let special: Int
                if end &- i >= 16 {
                    let lanes = sy_head_special16(base + i)
                    if lanes == 0 { i &+= 16; continue }
                    special = i &+ lanes.trailingZeroBitCount
                } else if end &- i >= 8 {
                    let lanes = WordScan.specialLanes(WordScan.load(base, i))
                    if lanes == 0 { i &+= 8; continue }
                    special = i &+ lanes.trailingZeroBitCount >> 3
                } else {
                    let c = base.load(fromByteOffset: i, as: UInt8.self)
                    if c >= 0x20 && c != 0x7F { i &+= 1; continue }
                    special = i
                }
                switch base.load(fromByteOffset: special, as: UInt8.self) {
                case Byte.cr:
                    if special &+ 1 >= b.count { return .needMore(resumeAt: special) }
                    guard b[special &+ 1] == Byte.lf else {
                        throw ParseFailure(400, "bare CR in head (CR must be followed by LF)", at: special)
                    }
                    return .line(cr: special, plain: plain)
                case Byte.lf:
                    throw ParseFailure(400, "bare LF in head (lines must end with CRLF)", at: special)
                default:
                    // HTAB, another CTL or DEL: part of the line; `FieldLine` judges it.
                    plain = false
                    i = special &+ 1
                }
            }
        }
        return b.count > lastCR ? .limit : .needMore(resumeAt: max(from, end))
    }
}
