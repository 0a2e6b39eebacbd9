/// Limits and timeouts from the routes file's `timeout` and `limit` lines; nil = the
/// proxy's default. They apply when the proxy starts (a reload does not resize buffers
/// or re-time connections already open).
public struct TuningConfig: Sendable, Equatable {
    public var headerTimeoutMilliseconds: Int?
    public var keepAliveTimeoutMilliseconds: Int?
    public var connectTimeoutMilliseconds: Int?
    public var upstreamTimeoutMilliseconds: Int?
    public var tunnelTimeoutMilliseconds: Int?
    /// `timeout upstream-keep-alive`: a pooled upstream connection idle longer is not reused.
    public var upstreamKeepAliveMilliseconds: Int?
    public var maxRequestLineBytes: UInt64?
    public var maxHeaderBytes: UInt64?
    public var maxHeaderCount: UInt64?
    public var maxConnectionsPerWorker: UInt64?
    /// `limit idle-per-server N`: idle upstream keep-alive connections kept per server per
    /// worker (a legacy server with a small connection limit may want few).
    public var maxIdlePerServer: UInt64?
    public var minBodyBytesPerSecond: UInt64?
    /// The most `limit hold-bytes` and `hold-body` may say (1 TiB).
    public static let maxHoldBytes: UInt64 = 1 << 40
    /// Write-hold bounds: `limit hold-parked N`, `hold-per-connection N`, `hold-bytes SIZE`, `hold-body SIZE`.
    public var holdParked: UInt64?
    public var holdPerConnection: UInt64?
    public var holdBytes: UInt64?
    public var holdBody: UInt64?

    public init() {}

    /// `timeout NAME DURATION`.
    public static let timeoutNames = ["header", "keep-alive", "connect", "upstream", "tunnel", "upstream-keep-alive"]
    /// `limit NAME VALUE`.
    /// The largest `limit min-body-rate` (1 GiB a second).
    public static let maxMinBodyBytesPerSecond: UInt64 = 1 << 30
    public static let limitNames = ["request-line", "header-bytes", "header-count", "connections", "idle-per-server", "min-body-rate",
                                     "hold-parked", "hold-per-connection", "hold-bytes", "hold-body"]
    /// A request head must fit in one 64 KiB I/O buffer with room to spare.
    public static let maxHeadBytes: UInt64 = 60 * 1024
    /// The proxy's limits when the file sets none (`HTTPLimits.default`, which this module
    /// cannot see; a test keeps the two equal).
    public static let defaultRequestLineBytes: UInt64 = 8 * 1024
    public static let defaultHeaderBytes: UInt64 = 32 * 1024
}
