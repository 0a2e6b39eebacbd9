/// Counters of one worker, read by `status` through the worker's own loop.
public struct WorkerStats: Sendable {
    public var requests = 0
    public var serverErrors = 0
    public var badRequests = 0
    public var connectFailures = 0
    public var upstreamErrors = 0
    public var noServer = 0
    public var timeouts = 0
    public var openTunnels = 0
    public var openConnections = 0
    public var acceptPauses = 0
    /// TLS handshakes or records that failed (garbage, no common cipher, bad MAC…).
    public var tlsFailures = 0

    public init() {}

    public static func + (a: WorkerStats, b: WorkerStats) -> WorkerStats {
        var s = WorkerStats()
        s.requests = a.requests + b.requests
        s.serverErrors = a.serverErrors + b.serverErrors
        s.badRequests = a.badRequests + b.badRequests
        s.connectFailures = a.connectFailures + b.connectFailures
        s.upstreamErrors = a.upstreamErrors + b.upstreamErrors
        s.noServer = a.noServer + b.noServer
        s.timeouts = a.timeouts + b.timeouts
        s.openTunnels = a.openTunnels + b.openTunnels
        s.openConnections = a.openConnections + b.openConnections
        s.acceptPauses = a.acceptPauses + b.acceptPauses
        s.tlsFailures = a.tlsFailures + b.tlsFailures
        return s
    }
}
