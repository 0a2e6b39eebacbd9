import SwitchyardSystem
import SwitchyardTLS

/// One upstream server as a worker sees it: its address, its idle keep-alive connections
/// and its counters. Per worker, so nothing here is shared between threads.
final class ServerPool {
    let address: SocketAddress
    /// "backend/host:port", for logs.
    let label: String
    /// The label as bytes, written into access-log lines without allocation.
    let labelBytes: [UInt8]
    var idle: [UpstreamConnection] = []
    /// After a failed connect the server is skipped until this time (monotonic ms), unless
    /// every server of the backend is in the same state.
    var skipUntil: UInt64 = 0
    var connectFailures = 0
    /// Active health (from the health checker); a down server gets no traffic.
    var healthy = true
    /// Passive ejection: after `ejectAfterFailures` consecutive failed exchanges the server
    /// gets no traffic until `ejectedUntil` (monotonic ms); a success resets the count.
    var consecutiveFailures = 0
    var ejectedUntil: UInt64 = 0
    static let ejectAfterFailures = 3
    static let ejectionMilliseconds: UInt64 = 10_000
    let key: String
    /// TLS towards this server, when its `server` line says `tls`.
    var tls: UpstreamTLS?
    /// The last TLS session a connection to this server can resume (nil: none yet, or the
    /// last resumed connection failed before its first answer): a new connection offers it
    /// and skips the full handshake when the server accepts.
    var resumable: TLSSavedSession?
    var openConnections = 0
    /// Raised when the server's TLS settings change (or a reload re-reads them): a
    /// connection made under an older epoch is closed instead of pooled.
    var tlsEpoch = 0

    init(key: String, address: SocketAddress, label: String) {
        self.key = key
        self.address = address
        self.label = label
        labelBytes = Array(label.utf8)
        idle.reserveCapacity(64)
    }

    /// May this server be given a request now?
    @inline(__always)
    func isAvailable(now: UInt64) -> Bool { healthy && ejectedUntil <= now }

    /// A failed exchange (connect failure, broken or malformed answer, no answer within the
    /// upstream timeout).
    func failed(now: UInt64) -> Bool {
        consecutiveFailures += 1
        if consecutiveFailures >= Self.ejectAfterFailures && ejectedUntil <= now {
            ejectedUntil = now + Self.ejectionMilliseconds
            consecutiveFailures = 0
            return true
        }
        return false
    }

    @inline(__always)
    func succeeded() { consecutiveFailures = 0 }

    func removeIdle(_ connection: UpstreamConnection) {
        if let index = idle.firstIndex(where: { $0 === connection }) {
            idle.remove(at: index)
        }
    }

    /// Whether the newest idle connection went idle before `cutoff` (ms; false when none is
    /// idle): then every idle one did, since the list is newest last.
    @inline(__always)
    func newestIdleIsOlder(than cutoff: UInt64) -> Bool {
        let count = idle.count
        return count > 0 && idle[count - 1].idleSince < cutoff
    }

    /// Closes every idle connection (the server lost its traffic, or the worker stops).
    func closeIdle() {
        // One at a time: a copy of the list to walk would allocate.
        while let connection = idle.popLast() { connection.close() }
    }
}
