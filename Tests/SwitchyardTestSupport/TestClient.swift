import Glibc
import SwitchyardSystem

/// A deliberately plain HTTP/1.1 client on a blocking socket, for talking to the proxy in
/// tests: it writes raw bytes and reads answers with its own minimal parsing.
public final class TestClient {
    public let fd: Int32
    private var buffer: [UInt8] = []

    public struct Response {
        public var status: Int
        public var head: String
        public var headers: [(String, String)]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    public init(port: UInt16, timeoutSeconds: Int = 10) throws {
        let fd = try Socket.connectBlocking(to: SocketAddress(ip: "127.0.0.1", port: port)!)
        self.fd = fd.rawValue
        // Reads and writes both give up after the timeout: a test never hangs on a peer
        // that stopped reading or answering.
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(self.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    /// Sends all of `text`; false if the peer is gone or stopped reading until the timeout.
    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool { writeAll(fd, bytes) }

    public func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Reads more bytes; false on end of stream, error or timeout.
    @discardableResult
    public func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// Everything until the server closes (or the timeout).
    public func readToEnd() -> [UInt8] {
        while fill() {}
        defer { buffer = [] }
        return buffer
    }

    private func line() -> String? {
        while true {
            if let i = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var lineBytes = Array(buffer[0..<i])
                if lineBytes.last == UInt8(ascii: "\r") { lineBytes.removeLast() }
                buffer.removeFirst(i + 1)
                return String(decoding: lineBytes, as: UTF8.self)
            }
            if !fill() { return nil }
        }
    }

    private func exactly(_ n: Int) -> [UInt8]? {
        while buffer.count < n { if !fill() { return nil } }
        defer { buffer.removeFirst(n) }
        return Array(buffer[0..<n])
    }

    /// Reads one response. `head`: the request was HEAD (no body whatever the headers say).
    public func readResponse(head: Bool = false) -> Response? {
        guard let statusLine = line() else { return nil }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        var headers: [(String, String)] = []
        var headText = statusLine + "\r\n"
        while let l = line(), !l.isEmpty {
            headText += l + "\r\n"
            if let colon = l.firstIndex(of: ":") {
                headers.append((String(l[..<colon]), String(l[l.index(after: colon)...]).trimmedOWS()))
            }
        }
        var response = Response(status: status, head: headText, headers: headers, body: [])
        if head || status < 200 || status == 204 || status == 304 { return response }
        if response.header("transfer-encoding")?.lowercased() == "chunked" {
            while let sizeLine = line(), let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) {
                if size == 0 {
                    while let trailer = line(), !trailer.isEmpty {}
                    break
                }
                guard let data = exactly(size) else { return nil }
                response.body += data
                _ = line()
            }
        } else if let length = response.header("content-length").flatMap({ Int($0) }) {
            guard let data = exactly(length) else { return nil }
            response.body = data
        } else {
            response.body = readToEnd()
        }
        return response
    }

    /// One GET on this connection.
    public func get(_ path: String, headers: String = "") -> Response? {
        send("GET \(path) HTTP/1.1\r\nHost: test.local\r\n\(headers)\r\n")
        return readResponse()
    }
}

private extension String {
    func trimmedOWS() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// Writes all of `bytes` to a blocking socket; false if it stopped early (the peer is gone,
/// or the socket's send timeout ran out).
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n <= 0 { if errno == EINTR { continue }; return false }
        offset += n
    }
    return true
}
