import Foundation
import Glibc
import SwitchyardRouting
import SwitchyardSystem
import SwitchyardTLS

/// One attempt to hand an event to a target, within a timeout: nil when delivered, else why not.
enum NotifyDelivery {
    static func deliver(_ event: Data, to target: NotifyTarget, timeoutMilliseconds: Int) -> String? {
        switch target {
        case .exec(let path): return run(path, event, timeoutMilliseconds)
        case .post(let host, let port, let path): return post(host, port, path, tls: nil, event, timeoutMilliseconds)
        case .postTLS(let host, let port, let path, let ca):
            switch tlsContext(ca: ca) {
            case .success(let context): return post(host, port, path, tls: context, event, timeoutMilliseconds)
            case .failure(let failure): return "notify post https://\(host):\(port): \(failure.message)"
            }
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

    /// POST over HTTP/1.1 (Connection: close), plain or over TLS; a 2xx status line is a
    /// delivery.
    private static func post(_ host: String, _ port: UInt16, _ path: String, tls: TLSClientContext?, _ event: Data,
                             _ timeoutMilliseconds: Int) -> String? {
        let deadline = Clock.monotonicMilliseconds() + UInt64(max(0, timeoutMilliseconds))
        let connection: NotifyConnection
        switch NotifyConnection.open(host: host, port: port, tls: tls, deadline: deadline) {
        case .success(let opened): connection = opened
        case .failure(let failure): return failure.message
        }
        let head = "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: application/json\r\nContent-Length: \(event.count)\r\nConnection: close\r\nUser-Agent: switchyard-notify\r\n\r\n"
        if let failure = connection.send(Array(head.utf8) + Array(event)) { return failure.message }
        var answer: [UInt8] = []
        // Only the status line matters: a receiver that never sends a newline is not read
        // past 8 KiB (its answer then reads as "not an HTTP answer").
        while !answer.contains(UInt8(ascii: "\n")) && answer.count < 8 * 1024 {
            switch connection.receive() {
            case .success(let bytes):
                if bytes.isEmpty { break }
                answer += bytes
                continue
            case .failure(let failure): return failure.message
            }
            break
        }
        let statusLine = String(decoding: answer.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else { return "not an HTTP answer from \(connection.peer)" }
        return (200...299).contains(status) ? nil : "\(connection.peer) answered \(status)"
    }

    /// The TLS context of a `notify post https://` target, made once per target.
    static func tlsContext(ca: String?) -> Result<TLSClientContext, NotifyFailure> {
        do { return .success(try TLSClientContext(caFile: ca)) } catch { return .failure(NotifyFailure(error.message)) }
    }
}
