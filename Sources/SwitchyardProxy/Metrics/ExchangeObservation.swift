/// What one exchange notes for metrics and the access log besides the connection's own
/// state: the metrics cell it is in flight in, the time its response head arrived and the
/// way its upstream failed. Plain values, reset when the exchange is routed.
struct ExchangeObservation {
    /// Index into the pinned `TableHandle.metrics` where this request counts as in flight;
    /// -1: not in flight (not routed yet, or already left).
    var inFlightCell = -1
    /// Monotonic nanoseconds when the first response head byte arrived; 0: none yet.
    var headNanoseconds: UInt64 = 0
    /// How the upstream failed this exchange, when it did.
    var upstreamError: ProxyErrorReason?
}
