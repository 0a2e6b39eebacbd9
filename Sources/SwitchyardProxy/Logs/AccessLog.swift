import Glibc
import SwitchyardSystem

/// One worker's access log: JSON lines formatted into a pooled buffer without allocation and
/// written in batches (when the buffer is nearly full, and on every loop tick), so a request
/// costs no system call of its own. Query strings are never logged: they may carry patient
/// identifiers, and the path is what an access log needs.
///
/// Reopening (SIGUSR1, `reopen-logs`): `reopen` runs on the worker's loop thread, like every
/// other use, so the swap needs no lock on the request path.
final class AccessLog {
    /// The file written to; replaced by `reopen` on the loop's thread.
    private var fd: FileDescriptor
    private let buffer: IOBuffer
    /// Flush before a line could fail to fit.
    private static let lineReserve = 2048

    init(fd: FileDescriptor, bufferSize: Int = 128 * 1024) {
        self.fd = fd
        buffer = IOBuffer(capacity: bufferSize)
    }

    /// Opens (creating, appending) a log file shared by all workers. O_APPEND makes each
    /// batch land whole at the end even with several writers.
    static func open(path: String) throws(Errno) -> FileDescriptor {
        FileDescriptor(rawValue: try syscallValue("open(\(path))") {
            Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        })
    }

    struct Entry {
        var client: UnsafeRawBufferPointer
        var method: UnsafeRawBufferPointer
        var path: UnsafeRawBufferPointer
        var route: UnsafeRawBufferPointer
        var backend: UnsafeRawBufferPointer
        var server: UnsafeRawBufferPointer
        var status: Int
        var bytesIn: UInt64
        var bytesOut: UInt64
        var durationMicroseconds: UInt64
        var generation: UInt64
        var protocolName: StaticString
        /// "TLSv1.3", "TLSv1.2"… or "" for plain HTTP (then the field is left out).
        var tlsVersion: StaticString
        /// Why the proxy refused the request (a parser's sentence, never request bytes); empty
        /// for requests that were routed, and then the field is left out.
        var reason: String = ""
        /// The client's sane `X-Request-ID` or a minted one (see `RequestID`); empty: "-".
        var requestID = UnsafeRawBufferPointer(start: nil, count: 0)
        /// The status of the upstream's last response head; 0: none arrived (`null`).
        var upstreamStatus = 0
        /// From the first connect attempt to the connection that carried the request being
        /// ready (a pooled one: about 0); nil: never connected (`null`).
        var connectMicroseconds: UInt64?
        /// From the request head to the first response head byte; nil: none (`null`).
        var ttfbMicroseconds: UInt64?
        /// Failed connect attempts plus a replay on a fresh connection.
        var retries = 0
        /// How the backend was chosen: active, cohort, sticky, split, failover; "-": unrouted.
        var via: StaticString = "-"
        var flags = AccessFlags()
    }

    /// `wallMicroseconds`: the line's time (tests give their own).
    func append(_ e: Entry, wallMicroseconds: UInt64 = Clock.wallMicroseconds()) {
        // Every byte of the texts may grow sixfold escaped (`\u00XX`); the rest of a line
        // fits in the fixed reserve. A line that does not fit is cut, never written past.
        let texts = e.path.count + e.route.count + e.backend.count + e.server.count + e.client.count + e.requestID.count
        if buffer.writableCount < Self.lineReserve + texts * 6 { flush() }
        buffer.append("{\"time\":\"")
        appendTimestamp(wallMicroseconds)
        buffer.append("\",\"request_id\":\"")
        if e.requestID.isEmpty { buffer.append("-") } else { appendEscaped(e.requestID) }
        buffer.append("\",\"client\":\"")
        appendEscaped(e.client)
        buffer.append("\",\"proto\":\"")
        buffer.append(e.protocolName)
        if e.tlsVersion.utf8CodeUnitCount > 0 {
            buffer.append("\",\"tls\":\"")
            buffer.append(e.tlsVersion)
        }
        buffer.append("\",\"method\":\"")
        appendEscaped(e.method)
        buffer.append("\",\"path\":\"")
        appendEscaped(e.path)
        buffer.append("\",\"route\":\"")
        appendEscaped(e.route)
        buffer.append("\",\"backend\":\"")
        appendEscaped(e.backend)
        buffer.append("\",\"server\":\"")
        appendEscaped(e.server)
        buffer.append("\",\"status\":")
        buffer.append(decimal: UInt64(max(0, e.status)))
        buffer.append(",\"bytes_in\":")
        buffer.append(decimal: e.bytesIn)
        buffer.append(",\"bytes_out\":")
        buffer.append(decimal: e.bytesOut)
        buffer.append(",\"duration_us\":")
        buffer.append(decimal: e.durationMicroseconds)
        buffer.append(",\"generation\":")
        buffer.append(decimal: e.generation)
        buffer.append(",\"upstream_status\":")
        appendOptional(e.upstreamStatus > 0 ? UInt64(e.upstreamStatus) : nil)
        buffer.append(",\"connect_us\":")
        appendOptional(e.connectMicroseconds)
        buffer.append(",\"ttfb_us\":")
        appendOptional(e.ttfbMicroseconds)
        buffer.append(",\"retries\":")
        buffer.append(decimal: UInt64(max(0, e.retries)))
        buffer.append(",\"via\":\"")
        buffer.append(e.via)
        buffer.append("\",\"flags\":\"")
        appendFlags(e.flags)
        buffer.append("\"")
        if !e.reason.isEmpty {
            buffer.append(",\"reason\":\"")
            var reason = e.reason
            reason.withUTF8 { utf8 in
                appendEscaped(UnsafeRawBufferPointer(start: utf8.baseAddress, count: min(utf8.count, 256)))
            }
            buffer.append("\"")
        }
        buffer.append("}\n")
    }

    /// Writes out what is buffered to the current file, then writes to `newFD` from now on.
    /// The caller closes the old descriptor once every worker has switched (they share it).
    func reopen(_ newFD: FileDescriptor) {
        flush()
        fd = newFD
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        // Logging must never stop the proxy: a full disk loses log lines, not requests.
        try? fd.writeAll(buffer.readable)
        buffer.clear()
    }

    private func appendOptional(_ value: UInt64?) {
        if let value { buffer.append(decimal: value) } else { buffer.append("null") }
    }

    /// The flags' letters joined by commas, in `AccessFlags.letters` order; "-" for none.
    private func appendFlags(_ flags: AccessFlags) {
        guard !flags.isEmpty else { return buffer.append("-") }
        var first = true
        var bit = 0
        while bit < AccessFlags.letters.count {
            if flags.rawValue & (1 << UInt16(bit)) != 0 {
                if !first { buffer.append(byte: UInt8(ascii: ",")) }
                buffer.append(AccessFlags.letters[bit])
                first = false
            }
            bit += 1
        }
    }

    /// `bytes` as the inside of a JSON string: a byte below 0x20, `"`, `\`, DEL or above as
    /// `\u00XX`, every other byte as it is. Runs of plain bytes are found a word at a time
    /// and copied in one append (byte by byte, this was the biggest part of a line's cost:
    /// 1,771 of 4,576 instructions a request, callgrind).
    private func appendEscaped(_ bytes: UnsafeRawBufferPointer) {
        guard let p = bytes.baseAddress else { return }
        let n = bytes.count
        var runStart = 0
        var i = 0
        while i < n {
            if n &- i >= 8 && !Self.needsEscape(UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))) {
                i &+= 8
                continue
            }
            let byte = p.load(fromByteOffset: i, as: UInt8.self)
            i &+= 1
            guard Self.needsEscape(byte) else { continue }
            if i &- 1 > runStart { buffer.append(UnsafeRawBufferPointer(start: p + runStart, count: i &- 1 &- runStart)) }
            buffer.append("\\u00")
            buffer.append(hex: UInt64(byte), width: 2)
            runStart = i
        }
        if n > runStart { buffer.append(UnsafeRawBufferPointer(start: p + runStart, count: n &- runStart)) }
    }

    @inline(__always)
    static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte >= 0x7F
    }

    /// True when some byte of `w` needs escaping (`needsEscape`). Each test is exact about
    /// whether any lane matches (a borrow starts only in a matching lane), which is all a
    /// word that is then looked at byte by byte needs.
    @inline(__always)
    static func needsEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZero(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        let below = (w &- ones &* 0x20) & ~w & highs
        let special = hasZero(w ^ (ones &* 0x22)) | hasZero(w ^ (ones &* 0x5C)) | hasZero(w ^ (ones &* 0x7F))
        return (below | special | (w & highs)) != 0
    }

    /// RFC 3339 UTC with microseconds. The part down to the second is formatted once a
    /// second (civil-from-days, proleptic Gregorian) and kept; each line copies it and
    /// writes its six digits of microseconds.
    private func appendTimestamp(_ micros: UInt64) {
        let second = micros / 1_000_000
        if second != stampSecond {
            stampSecond = second
            formatStamp(Int64(second))
        }
        withUnsafeBytes(of: &stamp) { _ = buffer.append(UnsafeRawBufferPointer(rebasing: $0[0..<Self.stampLength])) }
        var fraction = micros % 1_000_000
        let out = buffer.writable
        guard out.count >= 7 else { return }
        for k in stride(from: 5, through: 0, by: -1) {
            out[k] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: fraction % 10)
            fraction /= 10
        }
        out[6] = UInt8(ascii: "Z")
        buffer.commit(7)
    }

    /// "YYYY-MM-DDTHH:MM:SS." — the stamp's length.
    private static let stampLength = 20
    /// The second `stamp` was formatted for (`UInt64.max`: none yet) and its text.
    private var stampSecond = UInt64.max
    private var stamp: (UInt64, UInt64, UInt64) = (0, 0, 0)

    private func formatStamp(_ seconds: Int64) {
        let (year, month, day, secondOfDay) = civil(seconds)
        // Plain calls with an `inout` position: a nested function capturing it would box it
        // on the heap in a debug build (the allocation tests count that).
        withUnsafeMutableBytes(of: &stamp) { out in
            var at = 0
            Self.put(year, 4, UInt8(ascii: "-"), into: out, at: &at)
            Self.put(month, 2, UInt8(ascii: "-"), into: out, at: &at)
            Self.put(day, 2, UInt8(ascii: "T"), into: out, at: &at)
            Self.put(secondOfDay / 3600, 2, UInt8(ascii: ":"), into: out, at: &at)
            Self.put(secondOfDay / 60 % 60, 2, UInt8(ascii: ":"), into: out, at: &at)
            Self.put(secondOfDay % 60, 2, UInt8(ascii: "."), into: out, at: &at)
        }
    }

    /// `value` (≥ 0) in `width` digits, zero-padded, then `separator`, at `at` in `out`.
    private static func put(_ value: Int64, _ width: Int, _ separator: UInt8, into out: UnsafeMutableRawBufferPointer, at: inout Int) {
        var v = value
        for k in stride(from: width - 1, through: 0, by: -1) {
            out[at + k] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
        }
        out[at + width] = separator
        at += width + 1
    }
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's published algorithm, re-derived).
func civil(_ epochSeconds: Int64) -> (Int64, Int64, Int64, Int64) {
    let days = epochSeconds >= 0 ? epochSeconds / 86_400 : (epochSeconds - 86_399) / 86_400
    let secondOfDay = epochSeconds - days * 86_400
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    return (year, month, day, secondOfDay)
}
