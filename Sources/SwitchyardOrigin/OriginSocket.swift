import Glibc

/// A request as the origin saw it.
struct OriginRequest {
    var head: String
    var method: String
    var target: String
    var version: String
    var headers: [(String, String)]
    var body: [UInt8]
    var bodyLength: Int

    var path: String { String(target.split(separator: "?", maxSplits: 1).first ?? "") }

    func query(_ key: String) -> String? {
        guard let q = target.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in q.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.first.map(String.init) == key { return kv.count > 1 ? String(kv[1]) : "" }
        }
        return nil
    }

    func headerValue(_ name: String) -> String {
        headers.first { $0.0.lowercased() == name }?.1 ?? ""
    }

    /// A `ms=` pause in microseconds, kept within 0…60 s: the origins run inside `switchyard
    /// demo`, and a negative or huge value (`/slow?ms=-1`) trapped converting to `UInt32`,
    /// taking the demo's proxy down with its backend.
    static func pauseMicroseconds(_ text: String?, default fallback: Int) -> UInt32 {
        let ms = text.flatMap { Int($0) } ?? fallback
        return UInt32(min(max(ms, 0), 60_000) * 1000)
    }
}

/// Blocking socket helpers for the origin servers.
final class OriginSocket {
    let fd: Int32
    private var buffer: [UInt8] = []
    /// Bodies larger than this are counted, not kept.
    private static let keepBodyLimit = 1 << 20

    /// The request being answered is HEAD: heads are written, bodies are not.
    var answeringHead = false
    /// When not nil, every byte a read consumes is appended (up to 1 MiB): the request as
    /// it arrived on the wire.
    var transcript: [UInt8]?
    /// The last read saw the peer's end of stream.
    private(set) var sawEndOfStream = false

    init(fd: Int32) { self.fd = fd }

    func close() { Glibc.close(fd) }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n == 0 { sawEndOfStream = true }
        if n <= 0 { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    private func consumed(_ count: Int) {
        if transcript != nil && transcript!.count < Self.keepBodyLimit { transcript! += buffer[0..<count] }
        buffer.removeFirst(count)
    }

    /// Reads and drops whatever the peer sends until it stops for `quietMilliseconds` or
    /// closes — what nginx's lingering close does with a body it never read.
    func drain(quietMilliseconds: Int32) {
        buffer = []
        var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while poll(&pollFD, 1, quietMilliseconds) > 0 {
            guard fill() else { return }
            buffer = []
        }
    }

    func takeBuffered() -> [UInt8] {
        defer { buffer = [] }
        return buffer
    }

    private func readLine() -> String? {
        while true {
            if let i = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[0..<i], as: UTF8.self).trimmingCharacters(in: "\r")
                consumed(i + 1)
                return line
            }
            if !fill() { return nil }
        }
    }

    private func readExactly(_ count: Int, keep: Bool) -> [UInt8]? {
        var out: [UInt8] = []
        var remaining = count
        while remaining > 0 {
            if buffer.isEmpty && !fill() { return nil }
            let n = min(remaining, buffer.count)
            if keep { out.append(contentsOf: buffer[0..<n]) }
            consumed(n)
            remaining -= n
        }
        return out
    }

    func readRequest() -> OriginRequest? {
        var lines: [String] = []
        while true {
            guard let line = readLine() else { return nil }
            if line.isEmpty { if lines.isEmpty { continue } else { break } }
            lines.append(line)
        }
        let parts = lines[0].split(separator: " ")
        guard parts.count == 3 else { return nil }
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: " ")))
        }
        var request = OriginRequest(head: lines.joined(separator: "\r\n") + "\r\n\r\n", method: String(parts[0]),
                                    target: String(parts[1]), version: String(parts[2]), headers: headers, body: [], bodyLength: 0)
        if request.path == "/read-later" {
            // A backend busy before it reads the body: the sender is held back meanwhile.
            usleep(OriginRequest.pauseMicroseconds(request.query("ms"), default: 1000))
        }
        // An application that answers before reading the body (a redirect to the login
        // page, a 401): the caller answers from the head alone.
        if request.path.hasPrefix("/answer-early") { return request }
        if request.headerValue("transfer-encoding").lowercased() == "chunked" {
            while true {
                guard let sizeLine = readLine(), let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else { return nil }
                if size == 0 {
                    while let trailer = readLine(), !trailer.isEmpty {}
                    break
                }
                let keep = request.body.count < Self.keepBodyLimit
                guard let data = readExactly(size, keep: keep) else { return nil }
                request.body += data
                request.bodyLength += size
                _ = readLine()
            }
        } else if let length = Int(request.headerValue("content-length")), length > 0 {
            if request.headerValue("expect").lowercased() == "100-continue" {
                write("HTTP/1.1 100 Continue\r\n\r\n")
            }
            guard let data = readExactly(length, keep: length <= Self.keepBodyLimit) else { return nil }
            request.body = data
            request.bodyLength = length
        }
        return request
    }

    func write(_ text: String) { writeBytes(Array(text.utf8)) }

    func writeBytes(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { if errno == EINTR { continue }; return }
            offset += n
        }
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }

    func respond(status: Int, body: [UInt8], keepAlive: Bool, extraHeaders: String = "") {
        let type = extraHeaders.lowercased().contains("content-type:") ? "" : "Content-Type: text/plain\r\n"
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n\(type)\(extraHeaders)"
        if status != 204 && status != 304 { head += "Content-Length: \(body.count)\r\n" }
        head += keepAlive ? "\r\n" : "Connection: close\r\n\r\n"
        writeBytes(Array(head.utf8) + (answeringHead ? [] : body))
    }

    func respondStreaming(status: Int, count: Int, keepAlive: Bool) {
        write("HTTP/1.1 \(status) OK\r\nContent-Length: \(count)\r\n" + (keepAlive ? "\r\n" : "Connection: close\r\n\r\n"))
        let block = [UInt8](repeating: UInt8(ascii: "x"), count: 65536)
        var remaining = answeringHead ? 0 : count
        while remaining > 0 {
            let n = min(remaining, block.count)
            writeBytes(Array(block[0..<n]))
            remaining -= n
        }
    }

    /// Echoes until the peer half-closes, then half-closes back.
    func echoUntilEOF(prefix: [UInt8]) {
        if !prefix.isEmpty { writeBytes(prefix) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            writeBytes(Array(chunk[0..<n]))
        }
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }
}

private extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
