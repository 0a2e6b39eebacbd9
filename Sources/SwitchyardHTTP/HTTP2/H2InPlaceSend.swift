/// What became of a DATA frame offered to be passed on in place
/// (`H2SessionDelegate.h2SendResponseBodyInPlace`).
public enum H2InPlaceSend {
    /// Passed on, with the bytes before it.
    case sent
    /// Not possible for this frame (no room in front of it for its header, no handshake):
    /// copy it into `produce`'s buffer as usual. Nothing was passed on.
    case copy
    /// No room to pass it on now; nghttp2 asks again on the next `produce`. Nothing was
    /// passed on.
    case wouldBlock
    /// The stream's body is gone: the stream is reset.
    case gone
    /// The connection can no longer send: the session fails and the connection closes.
    case failed
}
