import Foundation
import Glibc
import SwitchyardRouting
import SwitchyardSystem

/// Why a call to etcd did not give an answer. `status` is set when etcd answered with an
/// HTTP error (401: the token expired or was never given).
struct EtcdError: Error, CustomStringConvertible {
    var message: String
    var status: Int? = nil
    /// The request may have reached etcd (it was sent, the answer never came): a write must
    /// be read back before anything is retried.
    var maybeApplied = false
    var description: String { message }

    /// `message` may carry etcd's own text (an answer's `message`), which reaches the error
    /// log and `status`: control, bidi and format characters are replaced (U+FFFD), so a
    /// store answer cannot write a line or an escape sequence of its own there.
    init(message: String, status: Int? = nil, maybeApplied: Bool = false) {
        self.message = AdminText.screened(message)
        self.status = status
        self.maybeApplied = maybeApplied
    }
}

/// One HTTP/1.1 request to etcd's JSON gateway over a plain TCP socket, on the fleet's own
/// threads (never on an event loop): blocking in spirit, every wait bounded by a deadline
/// through poll(2). Unary calls read the whole answer; a watch reads it line by line.
final class EtcdConnection {
    private let fd: FileDescriptor
    private var buffer: [UInt8] = []
    /// Decoded body bytes not yet handed out (chunked framing removed).
    private var body: [UInt8] = []
    /// How much of `body` holds no newline (a watch line being read): scanned once only.
    private var scannedForNewline = 0
    private var chunked = false
    private var remainingInChunk = 0
    private var bodyEnded = false
    private var contentLength: Int?
    let endpoint: FleetEndpoint

    /// The most an answer's head, and its body (or one line of a watch), may hold. Far above
    /// what etcd sends (it refuses requests over 1.5 MiB itself): only a broken peer, or
    /// something else listening on the endpoint, reaches them — refused, instead of growing
    /// without end on the fleet's threads.
    static let maxHeadBytes = 64 << 10
    static let maxBodyBytes = 64 << 20

    private init(fd: FileDescriptor, endpoint: FleetEndpoint) {
        self.fd = fd
        self.endpoint = endpoint
    }

    deinit { fd.close() }

    /// Looks the endpoint up and connects, by `deadline` (`Clock.monotonicMilliseconds`): the
    /// call's own, so that what the lookup took is not added to the rest.
    static func open(_ endpoint: FleetEndpoint, deadline: UInt64) throws(EtcdError) -> EtcdConnection {
        // Bounded: getaddrinfo is not, and fleet calls run under the commit lock.
        let address = try EtcdResolver.shared.address(host: endpoint.host, port: endpoint.port, deadline: deadline)
        let fd: FileDescriptor, connected: Bool
        do { (fd, connected) = try Socket.connect(to: address) } catch { throw EtcdError(message: "\(endpoint): \(error)") }
        let connection = EtcdConnection(fd: fd, endpoint: endpoint)
        if !connected {
            guard connection.wait(POLLOUT, until: deadline) else {
                throw EtcdError(message: "\(endpoint): connect timed out")
            }
            let err = Socket.takeError(fd)
            guard err == 0 else { throw EtcdError(message: "\(endpoint): connect: \(String(cString: strerror(err)))") }
        }
        return connection
    }

    private func wait(_ events: Int32, until deadline: UInt64) -> Bool {
        Socket.waitReady(fd, events: events, until: deadline)
    }

    /// Sends `POST path` with a JSON body.
    func send(path: String, json: Data, token: String?, headers: [String] = [], deadline: UInt64) throws(EtcdError) {
        var head = "POST \(path) HTTP/1.1\r\nHost: \(endpoint.host):\(endpoint.port)\r\nContent-Type: application/json\r\n"
        head += "Content-Length: \(json.count)\r\n"
        if let token { head += "Authorization: \(token)\r\n" }
        for header in headers { head += header + "\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8) + Array(json)
        var sent = 0
        while sent < bytes.count {
            guard wait(POLLOUT, until: deadline) else { throw EtcdError(message: "\(endpoint): send timed out", maybeApplied: sent > 0) }
            let n = bytes.withUnsafeMutableBytes { Glibc.send(fd.rawValue, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw EtcdError(message: "\(endpoint): send: \(String(cString: strerror(errno)))", maybeApplied: sent > 0)
            }
            sent += n
        }
    }

    /// Reads more bytes into `buffer`; false at the end of the stream or the deadline.
    private func fill(until deadline: UInt64) throws(EtcdError) -> Bool {
        guard wait(POLLIN, until: deadline) else { return false }
        var chunk = [UInt8](repeating: 0, count: 16_384)
        let n = chunk.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress, $0.count, 0) }
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return true }
            throw EtcdError(message: "\(endpoint): read: \(String(cString: strerror(errno)))", maybeApplied: true)
        }
        if n == 0 { throw EtcdError(message: "\(endpoint): connection closed", maybeApplied: true) }
        buffer += chunk[0..<n]
        return true
    }

    /// Reads the status line and headers. Returns the status code.
    func readHead(deadline: UInt64) throws(EtcdError) -> Int {
        while true {
            if let end = Self.find([13, 10, 13, 10], in: buffer) {
                let text = String(decoding: buffer[0..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                let lines = text.components(separatedBy: "\r\n")
                let parts = lines[0].split(separator: " ")
                guard parts.count >= 2, let status = Int(parts[1]) else {
                    throw EtcdError(message: "\(endpoint): not an HTTP answer", maybeApplied: true)
                }
                for line in lines.dropFirst() {
                    let lower = line.lowercased()
                    if lower.hasPrefix("transfer-encoding:") && lower.contains("chunked") { chunked = true }
                    if lower.hasPrefix("content-length:") { contentLength = Int(lower.dropFirst(15).trimmingCharacters(in: .whitespaces)) }
                }
                return status
            }
            guard buffer.count <= Self.maxHeadBytes else {
                throw EtcdError(message: "\(endpoint): answer head larger than \(Self.maxHeadBytes >> 10) KiB", maybeApplied: true)
            }
            guard try fill(until: deadline) else { throw EtcdError(message: "\(endpoint): timed out waiting for an answer", maybeApplied: true) }
        }
    }

    /// Moves what `buffer` holds of the body into `body`, undoing chunked framing.
    private func decode() throws(EtcdError) {
        try decodeFraming()
        guard body.count <= Self.maxBodyBytes else {
            throw EtcdError(message: "\(endpoint): answer (or watch line) larger than \(Self.maxBodyBytes >> 20) MiB", maybeApplied: true)
        }
    }

    private func decodeFraming() throws(EtcdError) {
        if !chunked {
            body += buffer
            buffer.removeAll()
            if let length = contentLength, body.count >= length { bodyEnded = true }
            return
        }
        while !buffer.isEmpty && !bodyEnded {
            if remainingInChunk > 0 {
                let take = min(remainingInChunk, buffer.count)
                body += buffer[0..<take]
                buffer.removeFirst(take)
                remainingInChunk -= take
                if remainingInChunk == 0 { remainingInChunk = -2 }   // its CRLF follows
                continue
            }
            if remainingInChunk == -2 {
                guard buffer.count >= 2 else { return }
                buffer.removeFirst(2)
                remainingInChunk = 0
                continue
            }
            guard let end = Self.find([13, 10], in: buffer) else {
                // A chunk-size line is a few hex digits: one that never ends is not etcd.
                if buffer.count > 1024 { throw EtcdError(message: "\(endpoint): bad chunk size", maybeApplied: true) }
                return
            }
            let sizeText = String(decoding: buffer[0..<end], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else {
                throw EtcdError(message: "\(endpoint): bad chunk size", maybeApplied: true)
            }
            buffer.removeFirst(end + 2)
            if size == 0 { bodyEnded = true } else { remainingInChunk = size }
        }
    }

    /// The whole body of a unary answer (the gateway frames it with chunks or a length).
    func readBody(deadline: UInt64) throws(EtcdError) -> Data {
        guard chunked || contentLength != nil else {
            throw EtcdError(message: "\(endpoint): answer without length or chunks", maybeApplied: true)
        }
        while true {
            try decode()
            if bodyEnded { return Data(body) }
            guard try fill(until: deadline) else { throw EtcdError(message: "\(endpoint): answer timed out", maybeApplied: true) }
        }
    }

    /// The next line of a streamed answer (a watch sends one JSON object a line), or nil
    /// when nothing came before `deadline`. Throws when the stream ended.
    func readLine(deadline: UInt64) throws(EtcdError) -> Data? {
        while true {
            try decode()
            if let newline = body[scannedForNewline...].firstIndex(of: 10) {
                let line = Data(body[0..<newline])
                body.removeFirst(newline + 1)
                scannedForNewline = 0
                return line
            }
            scannedForNewline = body.count
            if bodyEnded {
                if body.isEmpty { throw EtcdError(message: "\(endpoint): the watch ended") }
                defer { body.removeAll(); scannedForNewline = 0 }
                return Data(body)
            }
            guard try fill(until: deadline) else { return nil }
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}
