#if canImport(Glibc)
import Glibc
#endif

/// Finds the end of one head line, enforcing CRLF line endings.
///
/// We reject a bare LF and a bare CR anywhere in a head (400). RFC 9112 §2.2 allows a
/// recipient to accept a bare LF as a line end, but servers disagree about it, and a proxy
/// that reads line ends differently from the server behind it is a request-smuggling vector;
/// every sender we care about writes CRLF.
enum LineScanner {
    enum Outcome {
        /// A complete line; its CR is at `cr` and its LF right after.
        case line(cr: Int)
        /// The line is not complete in the bytes given; resume scanning at `resumeAt`.
        case needMore(resumeAt: Int)
        /// The line cannot end before `stop`: a size limit is exceeded.
        case limit
    }

    /// Scans `b` from `from` for CRLF. The line's LF must stay below index `stop`, so its CR
    /// must come by `stop - 2`: any other byte there proves the limit is exceeded, before the
    /// line ends. Bytes before `from` were scanned by an earlier call.
    static func scan(_ b: UnsafeRawBufferPointer, from: Int, stop: Int) throws(ParseFailure) -> Outcome {
        let lastCR = stop - 2
        let end = min(b.count, lastCR + 1)
        // memchr (vectorised in libc) finds the CR; a second one proves no LF came before it.
        // Byte by byte this loop was a sixth of a proxied response head's parse.
        if from < end, let base = b.baseAddress {
            let cr = memchr(base + from, Int32(Byte.cr), end - from)
            let crIndex = cr.map { base.distance(to: UnsafeRawPointer($0)) } ?? end
            if crIndex > from, let lf = memchr(base + from, Int32(Byte.lf), crIndex - from) {
                throw ParseFailure(400, "bare LF in head (lines must end with CRLF)", at: base.distance(to: UnsafeRawPointer(lf)))
            }
            if cr != nil {
                if crIndex + 1 >= b.count { return .needMore(resumeAt: crIndex) }
                guard b[crIndex + 1] == Byte.lf else {
                    throw ParseFailure(400, "bare CR in head (CR must be followed by LF)", at: crIndex)
                }
                return .line(cr: crIndex)
            }
        }
        return b.count > lastCR ? .limit : .needMore(resumeAt: max(from, end))
    }
}
