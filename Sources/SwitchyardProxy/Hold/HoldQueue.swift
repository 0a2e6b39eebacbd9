/// One worker's parked writes, in arrival order, and its hold counters. Confined to the
/// worker's thread; the admin side reads it through the loop hand-off (`Proxy+Hold`).
///
/// The queue's storage is reserved for the worker's bound once, so parking allocates
/// nothing; a connection that leaves (client gone, max-wait) is removed in place.
final class HoldQueue {
    let limits: HoldLimits
    /// Oldest first. An HTTP/1.1 connection is here at most once (it parks one exchange).
    private(set) var parked: [DownstreamConnection] = []
    /// Body bytes the parked requests count against `limits.bytes`.
    var parkedBytes = 0
    /// Exchanges released from the hold that have not ended yet (a release keeps at most
    /// `Proxy.releaseConcurrency` of them in flight, plus one per joiner), in the order they
    /// were sent. Their `holdKey`s are what the next release step must not send again
    /// until they are answered.
    private(set) var released: [DownstreamConnection] = []
    var releasedInFlight: Int { released.count }
    /// Released since the worker started (monotonic count).
    var releasedTotal = 0
    /// Parked since the worker started (monotonic count).
    var parkedTotal = 0
    /// Writes that parked behind a released route's queue (`DrainGate`) since the worker
    /// started, and those of them not ended yet (parked or released and still running):
    /// each would have gone upstream at once without the gate, so the release lets one
    /// more run for each.
    var joinedTotal = 0
    var joinedOutstanding = 0
    /// Per `HoldRejection`, since the worker started.
    var rejections = HoldRejectionCounts()
    /// The longest time one request stayed parked (ms), since the worker started.
    var longestParkMilliseconds: UInt64 = 0

    init(limits: HoldLimits) {
        self.limits = limits
        parked.reserveCapacity(max(limits.parked, 1))
    }

    var isFull: Bool { parked.count >= limits.parked }

    /// The last park sequence given: each parked exchange gets the next (`parkSequence`),
    /// what a release step takes it by.
    private(set) var lastSequence: UInt64 = 0

    func append(_ connection: DownstreamConnection) {
        lastSequence &+= 1
        connection.parkSequence = lastSequence
        parked.append(connection)
        parkedTotal += 1
    }

    /// A parked exchange was sent upstream by a release.
    func sent(_ connection: DownstreamConnection) {
        released.append(connection)
    }

    /// A released exchange ended (or was parked again).
    func answered(_ connection: DownstreamConnection) {
        if let i = released.firstIndex(where: { $0 === connection }) { released.remove(at: i) }
    }

    func joined() {
        joinedTotal += 1
        joinedOutstanding += 1
    }

    func remove(_ connection: DownstreamConnection) {
        // Off the common path (a client gone or a wait expired); the queue is short.
        if let i = parked.firstIndex(where: { $0 === connection }) { parked.remove(at: i) }
    }

    /// Takes the parked connections `chosen` picks, in queue order (a release step's plan).
    func take(where chosen: (DownstreamConnection) -> Bool) -> [DownstreamConnection] {
        var taken: [DownstreamConnection] = []
        var i = 0
        while i < parked.count {
            if chosen(parked[i]) {
                taken.append(parked.remove(at: i))
            } else {
                i += 1
            }
        }
        return taken
    }

    func rejected(_ reason: HoldRejection) { rejections[reason] += 1 }
}

/// A count per `HoldRejection` as plain stored integers: a scrape copies it off the worker
/// without allocating (an array would be shared and copied on the next refusal).
struct HoldRejectionCounts: Sendable {
    private var parkedLimit = 0, connectionLimit = 0, bytesLimit = 0, bodyLimit = 0, maxWait = 0, holdTooOld = 0, http2 = 0
    private var shutdown = 0, routeRemoved = 0, clientClosed = 0, rerouted = 0

    subscript(reason: HoldRejection) -> Int {
        get {
            switch reason {
            case .parkedLimit: return parkedLimit
            case .connectionLimit: return connectionLimit
            case .bytesLimit: return bytesLimit
            case .bodyLimit: return bodyLimit
            case .maxWait: return maxWait
            case .holdTooOld: return holdTooOld
            case .http2: return http2
            case .shutdown: return shutdown
            case .routeRemoved: return routeRemoved
            case .clientClosed: return clientClosed
            case .rerouted: return rerouted
            }
        }
        set {
            switch reason {
            case .parkedLimit: parkedLimit = newValue
            case .connectionLimit: connectionLimit = newValue
            case .bytesLimit: bytesLimit = newValue
            case .bodyLimit: bodyLimit = newValue
            case .maxWait: maxWait = newValue
            case .holdTooOld: holdTooOld = newValue
            case .http2: http2 = newValue
            case .shutdown: shutdown = newValue
            case .routeRemoved: routeRemoved = newValue
            case .clientClosed: clientClosed = newValue
            case .rerouted: rerouted = newValue
            }
        }
    }
}
