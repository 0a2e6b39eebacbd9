import SwitchyardRouting

/// The write hold's bounds. Over one, a write is answered 503 (not saved) and never
/// forwarded later. The totals are split evenly between workers (each worker parks on its
/// own, with plain counters): with 2 workers, each parks up to 1,000 of the 2,000.
public struct HoldLimits: Sendable, Equatable {
    /// Parked requests in total.
    public var parked = 2_000
    /// Parked HTTP/2 streams per client connection (an HTTP/1.1 connection parks one
    /// request at a time).
    public var perConnection = 20
    /// Bytes of parked bodies in total (each request counts its declared length, or what
    /// it has sent so far when chunked).
    public var bytes: UInt64 = 64 << 20
    /// One parked request's body.
    public var body: UInt64 = 1 << 20

    public init() {}

    mutating func apply(_ tuning: TuningConfig) {
        if let v = tuning.holdParked { parked = Int(v) }
        if let v = tuning.holdPerConnection { perConnection = Int(v) }
        if let v = tuning.holdBytes { bytes = v }
        if let v = tuning.holdBody { body = v }
    }

    /// This worker's share of the totals (rounded up, so the sum is never below the total).
    func perWorker(workers: Int) -> HoldLimits {
        var share = self
        let n = max(workers, 1)
        share.parked = (parked + n - 1) / n
        share.bytes = bytes / UInt64(n) + (bytes % UInt64(n) == 0 ? 0 : 1)   // no overflow near the top
        return share
    }
}

/// Why a held write was answered 503 instead of parked (or after it was), for
/// `switchyard_hold_rejections_total{reason}` and the audit's counts.
public enum HoldRejection: Int, CaseIterable, Sendable {
    case parkedLimit, connectionLimit, bytesLimit, bodyLimit, maxWait, holdTooOld, http2
    /// The process is stopping: a parked write can no longer be released by it.
    case shutdown
    /// A reload removed the route it was parked on: routed again, it could reach another
    /// application (a catch-all route), so it is answered instead.
    case routeRemoved
    /// The client stopped sending while its write was parked: gone, or only half-closed
    /// and still reading. Never forwarded either way; one still reading is told so.
    case clientClosed
    /// Released, and routed again to another route than the one it was parked on (a
    /// reload gave its path to another route, perhaps another application).
    case rerouted

    public var label: String {
        switch self {
        case .parkedLimit: return "parked_limit"
        case .connectionLimit: return "connection_limit"
        case .bytesLimit: return "bytes_limit"
        case .bodyLimit: return "body_limit"
        case .maxWait: return "max_wait"
        case .holdTooOld: return "hold_too_old"
        case .http2: return "http2"
        case .shutdown: return "shutdown"
        case .routeRemoved: return "route_removed"
        case .clientClosed: return "client_closed"
        case .rerouted: return "rerouted"
        }
    }
}
