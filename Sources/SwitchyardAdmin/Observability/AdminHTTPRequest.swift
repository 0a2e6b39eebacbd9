import Foundation
import Glibc
import SwitchyardSystem

/// One request to the metrics listener: the request line and the `Host` field, read with
/// a bound on size and time. Anything malformed is a typed refusal, never a crash.
struct AdminHTTPRequest {
    var method: String
    /// The target without its query (queries are ignored: nothing here takes parameters).
    var path: String
    var host: String?

    /// A request the listener refuses before looking at what it asks for.
    struct Refusal: Error {
        var status: Int
        var message: String
    }

    static let maxHeadBytes = 8 * 1024
    /// The whole head must arrive within this: the socket's receive timeout bounds each read
    /// only, and a client sending a byte every few seconds would keep one of the listener's
    /// 64 connection slots for hours (64 such clients: no metrics, no cutover page).
    static let headDeadlineMilliseconds: UInt64 = 10_000

    static func read(from fd: FileDescriptor) throws(Refusal) -> AdminHTTPRequest {
        let deadline = Clock.monotonicMilliseconds() + headDeadlineMilliseconds
        var head: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        while !containsEnd(head) {
            guard head.count < maxHeadBytes else { throw Refusal(status: 431, message: "request head over 8 KiB") }
            guard Clock.monotonicMilliseconds() < deadline else {
                throw Refusal(status: 408, message: "request head not complete within \(headDeadlineMilliseconds / 1000) s")
            }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd.rawValue, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Refusal(status: 408, message: "incomplete request head") }
            head += chunk[0..<n]
        }
        return try parse(head)
    }

    private static func containsEnd(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 4 else { return false }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return true
        }
        return false
    }

    static func parse(_ bytes: [UInt8]) throws(Refusal) -> AdminHTTPRequest {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Refusal(status: 400, message: "request head is not UTF-8") }
        let lines = text.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0", !parts[0].isEmpty,
              parts[1].hasPrefix("/") else {
            throw Refusal(status: 400, message: "bad request line")
        }
        var host: String?
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":"), !line[..<colon].contains(" ") else {
                throw Refusal(status: 400, message: "bad header line")
            }
            if line[..<colon].lowercased() == "host" {
                guard host == nil else { throw Refusal(status: 400, message: "several Host fields") }
                host = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        let target = parts[1]
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "/"
        return AdminHTTPRequest(method: String(parts[0]), path: path, host: host)
    }

    /// The `Host` values this listener answers to: its own address and, on loopback, the
    /// other loopback spellings (a browser on the proxy host may use any).
    static func allowedHosts(configured: String, port: UInt16) -> Set<String> {
        var hosts: Set<String> = [configured.contains(":") ? "[\(configured)]:\(port)" : "\(configured):\(port)"]
        if ["127.0.0.1", "::1", "localhost"].contains(configured.lowercased()) {
            hosts.formUnion(["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)"])
        }
        return Set(hosts.map { $0.lowercased() })
    }
}

/// An answer of the metrics listener; every connection carries one request.
struct AdminHTTPResponse {
    var status: Int
    var contentType = "text/plain; charset=utf-8"
    var body: Data
    var extraHeaders = ""

    init(status: Int, contentType: String = "text/plain; charset=utf-8", body: Data, extraHeaders: String = "") {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.extraHeaders = extraHeaders
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 421: return "Misdirected Request"
        case 431: return "Request Header Fields Too Large"
        default: return "Error"
        }
    }

    func write(to fd: FileDescriptor) throws(Errno) {
        var bytes = Data(("HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Type: \(contentType)\r\n"
            + "Content-Length: \(body.count)\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
            + extraHeaders + "Connection: close\r\n\r\n").utf8)
        bytes.append(body)
        var failure: Errno?
        bytes.withUnsafeBytes { buffer in
            do throws(Errno) { try fd.writeAll(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}
