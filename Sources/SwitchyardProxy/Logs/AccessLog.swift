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

    func append(_ e: Entry) {
        if buffer.writableCount < Self.lineReserve + e.path.count * 6 { flush() }
        buffer.append("{\"time\":\"")
        appendTimestamp(Clock.wallMicroseconds())
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

    private func appendEscaped(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte >= 0x7F {
                buffer.append("\\u00")
                buffer.append(hex: UInt64(byte), width: 2)
            } else {
                buffer.append(byte: byte)
            }
        }
    }

    /// RFC 3339 UTC with microseconds, from the civil-from-days algorithm (proleptic Gregorian).
    private func appendTimestamp(_ micros: UInt64) {
        let seconds = Int64(micros / 1_000_000)
        let fraction = micros % 1_000_000
        let (year, month, day, secondOfDay) = civil(seconds)
        pad(UInt64(year), 4); buffer.append(byte: UInt8(ascii: "-"))
        pad(UInt64(month), 2); buffer.append(byte: UInt8(ascii: "-"))
        pad(UInt64(day), 2); buffer.append(byte: UInt8(ascii: "T"))
        pad(UInt64(secondOfDay / 3600), 2); buffer.append(byte: UInt8(ascii: ":"))
        pad(UInt64(secondOfDay / 60 % 60), 2); buffer.append(byte: UInt8(ascii: ":"))
        pad(UInt64(secondOfDay % 60), 2); buffer.append(byte: UInt8(ascii: "."))
        pad(fraction, 6); buffer.append(byte: UInt8(ascii: "Z"))
    }

    private func pad(_ value: UInt64, _ width: Int) {
        var divisor: UInt64 = 1
        for _ in 1..<width { divisor *= 10 }
        var v = value
        while divisor > 0 {
            buffer.append(byte: UInt8(ascii: "0") + UInt8(v / divisor % 10))
            v %= divisor
            divisor /= 10
        }
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
