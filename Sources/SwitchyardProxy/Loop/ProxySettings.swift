/// Tunables of the data plane. Defaults are what a hospital deployment starts with; every
/// limit is named here so the README can list them.
public struct ProxySettings: Sendable {
    /// Worker threads, each with its own event loop and SO_REUSEPORT listeners.
    public var workers: Int
    /// Size of each pooled I/O buffer. Must exceed the request head limit (8 KiB line +
    /// 32 KiB headers) so a head always fits in one buffer.
    public var bufferSize = 64 * 1024
    /// Request head limits (414 / 431). Line + header block must fit in one buffer.
    public var maxRequestLineBytes = 8 * 1024
    public var maxHeaderBytes = 32 * 1024
    public var maxHeaderCount = 100
    /// HTTP/2 SETTINGS and flood limits (see `H2Limits`; the header list cap follows
    /// `maxHeaderBytes` / `maxHeaderCount`).
    public var http2 = H2Limits()
    /// A request head must arrive completely within this time (→ 408).
    public var headerTimeoutMilliseconds: UInt64 = 10_000
    /// An idle keep-alive client connection is closed after this time.
    public var keepAliveTimeoutMilliseconds: UInt64 = 60_000
    /// An HTTP/1.1 connection waiting this long for its next request gives up its exchange
    /// state for an entry in the worker's `IdleTable` (about 1 KiB less each). Long enough
    /// that a client in the middle of its requests — a page loading, a test counting
    /// allocations on a loaded machine — never goes through it; checked on the loop's tick.
    public var idleReductionMilliseconds: UInt64 = 1_000
    /// Connecting to one upstream server may take this long before the next is tried.
    public var connectTimeoutMilliseconds: UInt64 = 3_000
    /// Time allowed between sending a request and the first byte of its response (→ 504),
    /// and between two reads of a request or response body in progress.
    public var upstreamTimeoutMilliseconds: UInt64 = 60_000
    /// A pooled upstream connection idle longer than this is closed, not used: Node and
    /// Apache close idle keep-alive connections after 5 s, and a request written into a
    /// connection the server is closing meets a reset (a POST is not replayed: a 502).
    /// Under steady traffic connections never wait this long (`timeout upstream-keep-alive`).
    public var upstreamKeepAliveMilliseconds: UInt64 = 4_000
    /// A request body must arrive at least this fast, averaged over `bodyRateWindowMilliseconds`
    /// (windows in which the proxy itself held the client back do not count). Slower is a
    /// slow-POST attack or a dead link: 408 if no answer started, else the connection is cut.
    public var minBodyBytesPerSecond: UInt64 = 1_024
    public var bodyRateWindowMilliseconds: UInt64 = 10_000
    /// A tunnel (WebSocket, TCP mode) with no traffic either way is closed after this time.
    /// Ten minutes: long enough for an idle WebSocket with application pings, short enough
    /// that forgotten tunnels do not pin descriptors for an hour (`timeout tunnel` changes it).
    public var tunnelIdleTimeoutMilliseconds: UInt64 = 600_000
    /// After a final error answer we keep reading (and discarding) for this long before
    /// closing, so the client sees the answer instead of a reset.
    public var lingerMilliseconds: UInt64 = 1_000
    /// Idle upstream connections kept per server per worker. Each in-flight request needs
    /// its own HTTP/1.1 upstream connection, so this follows the concurrency a worker
    /// sees (HTTP/2 clients bring many streams each: bench/h2 at 16 × 100 streams churned
    /// connections with 256). Servers close idle ones after their own keep-alive timeout.
    public var maxIdlePerServer = 2048
    /// Client connections per worker; beyond it the worker stops accepting until below.
    public var maxConnectionsPerWorker = 20_000
    /// Write-hold bounds (routes file: `limit hold-parked|hold-per-connection|hold-bytes|hold-body`).
    public var hold = HoldLimits()
    /// A mirrored copy not answered within this is given up and counted as a timeout.
    public var mirrorTimeoutMilliseconds: UInt64 = 10_000
    /// Path of the access log (JSON lines), or nil for none.
    public var accessLogPath: String?
    /// Path of the error log, or nil for standard error.
    public var errorLogPath: String?
    /// Routed requests the decision log keeps for `simulate`, over all workers (each keeps
    /// its share in a ring of `DecisionRecord`s: 40 bytes each, 40 MB for a million).
    public var decisionLogRecords = 1_000_000

    public init(workers: Int) {
        self.workers = max(1, workers)
    }
}

import SwitchyardHTTP
import SwitchyardRouting

extension ProxySettings {
    /// The routes file's `timeout` and `limit` lines, over these settings.
    public mutating func apply(_ tuning: TuningConfig) {
        if let v = tuning.headerTimeoutMilliseconds { headerTimeoutMilliseconds = UInt64(v) }
        if let v = tuning.keepAliveTimeoutMilliseconds { keepAliveTimeoutMilliseconds = UInt64(v) }
        if let v = tuning.connectTimeoutMilliseconds { connectTimeoutMilliseconds = UInt64(v) }
        if let v = tuning.upstreamTimeoutMilliseconds { upstreamTimeoutMilliseconds = UInt64(v) }
        if let v = tuning.tunnelTimeoutMilliseconds { tunnelIdleTimeoutMilliseconds = UInt64(v) }
        if let v = tuning.upstreamKeepAliveMilliseconds { upstreamKeepAliveMilliseconds = UInt64(v) }
        if let v = tuning.maxRequestLineBytes { maxRequestLineBytes = Int(v) }
        if let v = tuning.maxHeaderBytes { maxHeaderBytes = Int(v) }
        if let v = tuning.maxHeaderCount { maxHeaderCount = Int(v) }
        if let v = tuning.maxConnectionsPerWorker { maxConnectionsPerWorker = Int(v) }
        if let v = tuning.maxIdlePerServer { maxIdlePerServer = Int(v) }
        if let v = tuning.minBodyBytesPerSecond { minBodyBytesPerSecond = v }
        hold.apply(tuning)
    }

    var httpLimits: HTTPLimits {
        HTTPLimits(maxRequestLineBytes: maxRequestLineBytes, maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount)
    }
}
