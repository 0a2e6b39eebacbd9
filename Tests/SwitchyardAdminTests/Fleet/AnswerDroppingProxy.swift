import Foundation
import Glibc
import SwitchyardSystem

/// A TCP relay in front of one etcd member that passes every request on and every answer
/// back — except the answers to `POST /v3/kv/txn` while `dropTransactionAnswers` is set:
/// those it swallows, so the transaction commits and the caller never hears it.
final class AnswerDroppingProxy: @unchecked Sendable {
    let port: UInt16
    let dropTransactionAnswers = Locked(false)
    /// While set, a transaction's answer is replaced by these bytes once etcd has answered
    /// (the transaction committed; the caller hears an error).
    let replaceTransactionAnswers = Locked<[UInt8]?>(nil)
    /// Transactions whose answer was swallowed.
    let dropped = Locked(0)
    private let listener: Int32
    private let upstreamPort: UInt16

    init(upstreamPort: UInt16) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        listen(fd, 16)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in acceptLoop() }.start()
    }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    private static func loopback(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(upstreamPort)
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else { close(client); close(upstream); continue }
            // Our etcd client sends one request per connection: its first bytes say which.
            let isTransaction = Locked(false)
            Thread { [self] in
                relay(from: client, to: upstream, firstBytes: { bytes in
                    let transaction = bytes.starts(with: Array("POST /v3/kv/txn".utf8))
                    isTransaction.withLock { $0 = transaction }
                })
            }.start()
            Thread { [self] in
                relay(from: upstream, to: client, drop: { isTransaction.withLock { $0 } && self.dropTransactionAnswers.withLock { $0 } },
                      replace: { isTransaction.withLock { $0 } ? self.replaceTransactionAnswers.withLock { $0 } : nil })
            }.start()
        }
    }

    private func relay(from source: Int32, to destination: Int32, firstBytes: (([UInt8]) -> Void)? = nil, drop: (() -> Bool)? = nil,
                       replace: (() -> [UInt8]?)? = nil) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var first = true, counted = false
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            if first { firstBytes?(Array(buffer[0..<n])); first = false }
            if let drop, drop() {
                if !counted { dropped.withLock { $0 += 1 }; counted = true }
                continue
            }
            if let replacement = replace?() {
                if !counted {
                    dropped.withLock { $0 += 1 }
                    counted = true
                    _ = replacement.withUnsafeBytes { send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    shutdown(destination, Int32(SHUT_WR))
                }
                continue
            }
            var sent = 0
            while sent < n {
                let m = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                if m <= 0 { break }
                sent += m
            }
        }
        shutdown(destination, Int32(SHUT_RDWR))
        shutdown(source, Int32(SHUT_RDWR))
    }
}
