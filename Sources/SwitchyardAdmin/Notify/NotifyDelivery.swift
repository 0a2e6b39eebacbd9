import Foundation
import Glibc
import SwitchyardRouting

/// One attempt to hand an event to a target, within a timeout: nil when delivered, else why not.
enum NotifyDelivery {
    static func deliver(_ event: Data, to target: NotifyTarget, timeoutMilliseconds: Int) -> String? {
        switch target {
        case .exec(let path): return run(path, event, timeoutMilliseconds)
        case .post(let host, let port, let path): return post(host, port, path, event, timeoutMilliseconds)
        }
    }

    /// The program gets the event on stdin and must exit 0 in time (else it is killed).
    private static func run(_ path: String, _ event: Data, _ timeoutMilliseconds: Int) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return "cannot run \(path): \(error.localizedDescription)" }
        try? input.fileHandleForWriting.write(contentsOf: event)
        try? input.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return "\(path) did not exit within \(timeoutMilliseconds) ms (killed)"
        }
        return process.terminationStatus == 0 ? nil : "\(path) exited with status \(process.terminationStatus)"
    }

    /// POST over HTTP/1.1 (Connection: close); a 2xx status line is a delivery.
    private static func post(_ host: String, _ port: UInt16, _ path: String, _ event: Data, _ timeoutMilliseconds: Int) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let info = list else { return "cannot resolve \(host)" }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return "socket: errno \(errno)" }
        defer { close(fd) }
        if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
            return "connect to \(host):\(port): \(String(cString: strerror(errno)))"
        }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&pfd, 1, Int32(timeoutMilliseconds)) == 1 else { return "connect to \(host):\(port) timed out" }
        var soError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
        if soError != 0 { return "connect to \(host):\(port): \(String(cString: strerror(soError)))" }
        let head = "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: application/json\r\nContent-Length: \(event.count)\r\nConnection: close\r\nUser-Agent: switchyard-notify\r\n\r\n"
        let request = Array(head.utf8) + Array(event)
        let deadline = Date().addingTimeInterval(Double(timeoutMilliseconds) / 1000)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n; continue }
            guard n < 0, errno == EAGAIN || errno == EINTR else { return "send: \(String(cString: strerror(errno)))" }
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var out = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard left > 0, poll(&out, 1, left) == 1 else { return "sending to \(host):\(port) timed out" }
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while !answer.contains(UInt8(ascii: "\n")) {
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var input = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&input, 1, left) == 1 else { return "no answer from \(host):\(port) within \(timeoutMilliseconds) ms" }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 { if errno == EAGAIN || errno == EINTR { continue }; return "recv: \(String(cString: strerror(errno)))" }
            answer += buffer[0..<n]
        }
        let statusLine = String(decoding: answer.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else { return "not an HTTP answer from \(host):\(port)" }
        return (200...299).contains(status) ? nil : "\(host):\(port) answered \(status)"
    }
}
