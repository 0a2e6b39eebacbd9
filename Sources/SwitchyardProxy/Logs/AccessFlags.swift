/// Envoy-style response flags for the access log's `flags` field: why an exchange ended
/// the way it did when it was not simply relayed. Letters follow Envoy's where Envoy has
/// one for the same thing, so operators who know Envoy read them at once:
///
/// | flag | meaning |
/// |---|---|
/// | `UF` | upstream connect failure: every server tried refused or timed out the connect (503), or the upstream TLS handshake failed (502) |
/// | `UH` | no healthy upstream: no server of the side (nor of its failover side) was available to try (503) |
/// | `UT` | upstream timeout: no response within the upstream timeout (504), or the body stalled after the response began (cut) |
/// | `UR` | upstream reset: the server closed or reset before the answer was complete (502, or cut mid-response) |
/// | `UPE` | upstream protocol error: a malformed or oversized response head, bad chunked framing, a 101 nobody asked for (502 or cut) |
/// | `NR` | no route: no route matched (404), the route's certificate was not this connection's (421), CONNECT (501) |
/// | `DC` | downstream connection terminated: the client closed or reset (its stream) before the exchange ended |
/// | `DPE` | downstream protocol error: a refused request head (400, 414, 431, 505…) or a malformed chunked body |
/// | `SI` | stream idle: the client was too slow (408 for a head or body), or a tunnel reached its idle timeout |
/// | `LR` | local reset: the proxy cut the exchange itself (request body over `max-body` after the response began) |
/// | `WH` | write hold: the hold answered 503 "not saved" (max-wait passed, a bound, the hold too old, the process stopping; Envoy has no such thing) |
///
/// None of them: the line says `"flags":"-"`. Several are joined with `,` in the order above.
struct AccessFlags: OptionSet, Equatable {
    let rawValue: UInt16

    static let upstreamConnectFailure = AccessFlags(rawValue: 1 << 0)
    static let noHealthyUpstream = AccessFlags(rawValue: 1 << 1)
    static let upstreamTimeout = AccessFlags(rawValue: 1 << 2)
    static let upstreamReset = AccessFlags(rawValue: 1 << 3)
    static let upstreamProtocolError = AccessFlags(rawValue: 1 << 4)
    static let noRoute = AccessFlags(rawValue: 1 << 5)
    static let downstreamTerminated = AccessFlags(rawValue: 1 << 6)
    static let downstreamProtocolError = AccessFlags(rawValue: 1 << 7)
    static let streamIdle = AccessFlags(rawValue: 1 << 8)
    static let localReset = AccessFlags(rawValue: 1 << 9)
    static let writeHold = AccessFlags(rawValue: 1 << 10)

    /// Each flag's letters, in bit order (the order they are written in).
    static let letters: [StaticString] = ["UF", "UH", "UT", "UR", "UPE", "NR", "DC", "DPE", "SI", "LR", "WH"]

    /// The flag for the way an upstream failed (see `ProxyErrorReason`).
    static func upstream(_ reason: ProxyErrorReason?) -> AccessFlags {
        switch reason {
        case .tls, .connect: return .upstreamConnectFailure
        case .protocolError: return .upstreamProtocolError
        case .timeout: return .upstreamTimeout
        case .noServer: return .noHealthyUpstream
        case .reset, nil: return .upstreamReset
        }
    }

    /// The flag for one of our own answers, from its status. `connectFailures`: connects
    /// that failed for this request (a 503 after them is `UF`, without them `UH`);
    /// `upstreamError`: how the upstream failed, for a 502.
    static func ownAnswer(_ status: Int, connectFailures: Int, upstreamError: ProxyErrorReason?) -> AccessFlags {
        switch status {
        case 404, 421, 501: return .noRoute
        case 400, 431: return .downstreamProtocolError
        case 408: return .streamIdle
        case 502: return upstream(upstreamError)
        case 503: return connectFailures > 0 ? .upstreamConnectFailure : .noHealthyUpstream
        case 504: return .upstreamTimeout
        default: return []
        }
    }

    /// The flag for a cut exchange, by the state machine's reason.
    static func cut(_ reason: Exchange.CutReason, upstreamError: ProxyErrorReason?) -> AccessFlags {
        switch reason {
        case .clientGone: return .downstreamTerminated
        case .upstreamFailedMidResponse: return upstream(upstreamError)
        case .upstreamTimeoutMidResponse: return .upstreamTimeout
        case .badRequestBody: return .downstreamProtocolError
        case .requestBodyOverLimit: return .localReset
        case .requestBodyTooSlow, .tunnelEnded: return .streamIdle
        }
    }
}
