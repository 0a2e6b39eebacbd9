/// The outcome of a non-blocking call: it did something, or the kernel said "not now" (EAGAIN).
public enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}
extension IOResult: Sendable where Value: Sendable {}
