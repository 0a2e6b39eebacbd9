/// Walks the lines of a head across calls, so that no byte is scanned twice, and enforces
/// the size limits of the start line and of the header block.
///
/// Invariant: every byte before `lineStart` belongs to a line already handed out; bytes in
/// `[lineStart, scanFrom)` hold no CR or LF.
struct HeadCursor {
    enum Event {
        /// The current line is not complete yet.
        case needMore
        /// The start line `[0, cr)` is complete.
        case startLine(cr: Int)
        /// A field line `[start, cr)` is complete (never empty). `plain`: no byte of it is a
        /// control byte or DEL (false when unsure: a line that arrived in pieces).
        case fieldLine(start: Int, cr: Int, plain: Bool)
        /// The empty line ending the head was read; the head is `headLength` bytes.
        case end(headLength: Int)
    }

    private let maxStartLineBytes: Int
    private let maxHeaderBytes: Int
    /// Offset of the first byte of the line being read.
    private var lineStart = 0
    /// Where the search for CRLF resumes.
    private var scanFrom = 0
    /// Offset of the header block (right after the start line); nil while in the start line.
    private var blockStart: Int?

    init(limits: HTTPLimits) {
        maxStartLineBytes = limits.maxRequestLineBytes
        maxHeaderBytes = limits.maxHeaderBytes
    }

    mutating func reset() {
        lineStart = 0
        scanFrom = 0
        blockStart = nil
    }

    /// The next complete line of the head in `b` (the message from its first byte).
    ///
    /// Throws 414 when the start line, CRLF included, would exceed `maxRequestLineBytes`, and
    /// 431 when the header block, final CRLF included, would exceed `maxHeaderBytes`. Both are
    /// detected as soon as the bytes at hand prove it, without waiting for the line's end.
    @inline(__always)
    mutating func next(_ b: UnsafeRawBufferPointer) throws(ParseFailure) -> Event {
        precondition(b.count >= scanFrom, "the caller's buffer lost bytes it already passed to the parser")
        let stop = blockStart.map { $0 + maxHeaderBytes } ?? maxStartLineBytes
        // A line scanned in pieces: the bytes an earlier call passed are not vouched for.
        let wholeLine = scanFrom == lineStart
        switch try LineScanner.scan(b, from: scanFrom, stop: stop) {
        case .needMore(let resumeAt):
            scanFrom = resumeAt
            return .needMore
        case .limit:
            if blockStart == nil {
                throw ParseFailure(414, "start line longer than the limit", at: stop)
            }
            throw ParseFailure(431, "header block larger than the limit", at: stop)
        case .line(let cr, let plain):
            let start = lineStart
            let next = cr + 2
            lineStart = next
            scanFrom = next
            guard blockStart != nil else {
                blockStart = next
                return .startLine(cr: cr)
            }
            if cr == start { return .end(headLength: next) }
            // A field line must leave room for the empty line that ends the block.
            if next + 2 > stop { throw ParseFailure(431, "header block larger than the limit", at: stop) }
            return .fieldLine(start: start, cr: cr, plain: plain && wholeLine)
        }
    }
}
