/// What one exchange notes for metrics and the access log besides the connection's own
/// state: the metrics cell it is in flight in, the time its response head arrived and the
/// way its upstream failed, its connect and first-byte times, its upstream status and its
/// flags. Plain values, reset when the exchange ends (and when it is routed).
struct ExchangeObservation {
    /// Index into the pinned `TableHandle.metrics` where this request counts as in flight;
    /// -1: not in flight (not routed yet, or already left).
    var inFlightCell = -1
    /// Monotonic nanoseconds when the first response head byte arrived; 0: none yet.
    var headNanoseconds: UInt64 = 0
    /// How the upstream failed this exchange, when it did.
    var upstreamError: ProxyErrorReason?
    /// Monotonic nanoseconds of the first connect attempt (or pooled-connection pick); 0: none.
    var connectStartNanoseconds: UInt64 = 0
    /// Monotonic nanoseconds when the upstream connection that carried the request was
    /// ready (after retries, failover, a replay); 0: never connected.
    var connectedNanoseconds: UInt64 = 0
    /// Connect attempts that failed (synchronously or not), for `retries` and `UF`.
    var connectFailures = 0
    /// The status of the last response head the upstream sent (0: none arrived).
    var upstreamStatus = 0
    /// Why the exchange ended as it did, for the access log (see `AccessFlags`).
    var flags = AccessFlags()
    /// The inventory's endpoint slot this request counts in, and its key's hash (the slot
    /// may be taken by another key before the request ends: then its error is not counted).
    var inventoryEndpoint: UnsafeMutablePointer<UInt64>?
    var inventoryEndpointHash: UInt64 = 0
    /// The write hold answered it (refused, or max-wait passed): it never reached a backend,
    /// so it is no backend's error and no transport failure.
    var heldWrite = false
    /// Nanoseconds the request waited parked by a write hold before its release: the
    /// latency histograms (which latency guards read) measure from after it, since a
    /// database freeze's wait is nobody's slowness; the access log keeps the whole time.
    var parkedNanoseconds: UInt64 = 0
}
