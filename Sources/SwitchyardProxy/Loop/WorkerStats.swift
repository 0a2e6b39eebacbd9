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
    /// Requests carried by HTTP/2 streams (also counted in `requests`).
    public var h2Requests = 0
    /// Open HTTP/2 connections (also counted in `openConnections`) and all accepted.
    public var openH2Connections = 0
    public var h2Connections = 0
    /// HTTP/2 connections ended for breaking a protocol rule or a flood limit.
    public var h2ProtocolErrors = 0
    /// HTTP/2 connections that have ended, after a protocol error (or a header block left
    /// open) and otherwise (a client's reset included).
    public var h2EndedFailed = 0
    public var h2EndedClean = 0
    /// Completed TLS handshakes by version.
    public var tls13Handshakes = 0
    public var tls12Handshakes = 0
    public var otherHandshakes = 0

    mutating func noteHandshake(_ version: StaticString) {
        switch version.utf8CodeUnitCount == 7 ? version.utf8Start[6] : 0 {
        case UInt8(ascii: "3"): tls13Handshakes += 1
        case UInt8(ascii: "2"): tls12Handshakes += 1
        default: otherHandshakes += 1
        }
    }

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
        s.h2Requests = a.h2Requests + b.h2Requests
        s.openH2Connections = a.openH2Connections + b.openH2Connections
        s.h2Connections = a.h2Connections + b.h2Connections
        s.h2ProtocolErrors = a.h2ProtocolErrors + b.h2ProtocolErrors
        s.h2EndedFailed = a.h2EndedFailed + b.h2EndedFailed
        s.h2EndedClean = a.h2EndedClean + b.h2EndedClean
        s.tls13Handshakes = a.tls13Handshakes + b.tls13Handshakes
        s.tls12Handshakes = a.tls12Handshakes + b.tls12Handshakes
        s.otherHandshakes = a.otherHandshakes + b.otherHandshakes
        return s
    }
}
