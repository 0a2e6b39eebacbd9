import Foundation
import Glibc

/// A small keep-alive HTTP/1.1 origin for the mirror's end-to-end test: every GET is answered
/// by `answer(path, isMirrorCopy)` with a JSON body and Content-Length; what it sent to
/// requests that were not mirror copies is kept by their `X-Seq` header, so a test can prove
/// the user got this origin's answer byte for byte. Blocking sockets, a thread a connection.
final class JSONOrigin: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let answer: @Sendable (_ path: String, _ copy: Bool) -> (status: Int, body: String)
    private let lock = NSLock()
    private var sentBySeq: [String: [UInt8]] = [:]
    private var copies = 0
    private var stopped = false

    init(answer: @escaping @Sendable (_ path: String, _ copy: Bool) -> (status: Int, body: String)) throws {
        self.answer = answer
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        guard bound == 0, listen(listener, 128) == 0 else { throw POSIXError(.EADDRINUSE) }
        withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listener, $0, &length) } }
        port = UInt16(bigEndian: address.sin_port)
        self.listener = listener
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// The body sent for the user's request `seq` (not for a copy).
    func sent(seq: String) -> [UInt8]? { lock.withLock { sentBySeq[seq] } }
    var copiesReceived: Int { lock.withLock { copies } }

    func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 { return }
            let thread = Thread { [self] in serve(fd) }
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while !lock.withLock({ stopped }) {
            guard let end = Self.headEnd(pending) else {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { return }
                pending += chunk[0..<n]
                continue
            }
            let head = String(decoding: pending[0..<end], as: UTF8.self)
            pending.removeFirst(end + 4)
            let lines = head.split(separator: "\r\n").map(String.init)
            let target = lines.first?.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            let path = String(target.prefix { $0 != "?" })
            var seq: String?
            var copy = false
            for line in lines.dropFirst() {
                let lower = line.lowercased()
                if lower.hasPrefix("x-seq:") { seq = line.dropFirst(6).trimmingCharacters(in: .whitespaces) }
                if lower.hasPrefix("x-switchyard-mirror:") { copy = true }
            }
            let (status, body) = answer(path, copy)
            let bytes = Array(body.utf8)
            lock.withLock {
                if copy { copies += 1 } else if let seq { sentBySeq[seq] = bytes }
            }
            let reason = status == 200 ? "OK" : "Internal Server Error"
            let response = Array("HTTP/1.1 \(status) \(reason)\r\nContent-Type: application/json\r\nContent-Length: \(bytes.count)\r\nDate: \(Date())\r\n\r\n".utf8) + bytes
            var offset = 0
            while offset < response.count {
                let n = response[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }
}
