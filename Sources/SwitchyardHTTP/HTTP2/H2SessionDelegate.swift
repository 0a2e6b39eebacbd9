/// What an HTTP/2 server session reports to the connection that owns it. Called from inside
/// `H2ServerSession.receive` and `produce`; a delegate may submit frames there but must not
/// call `receive` or `produce` again.
public protocol H2SessionDelegate: AnyObject {
    /// A request's HEADERS began on a new stream.
    func h2StreamOpened(_ stream: Int32)
    /// One decoded field of a request head (pseudo-fields first, names in lower case,
    /// validated by nghttp2 against RFC 9113). Trailer fields are not reported. `object`:
    /// what the delegate set for the stream with `setObject` (looked up by the session, so
    /// the delegate need not call back into it once per field).
    func h2Header(_ stream: Int32, object: UnsafeMutableRawPointer?, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    /// The request head is complete; `endStream`: no body follows.
    func h2HeadComplete(_ stream: Int32, endStream: Bool)
    /// Request body bytes. They stay charged to the flow-control windows until the
    /// delegate calls `H2ServerSession.consume`.
    func h2Data(_ stream: Int32, _ bytes: UnsafeRawBufferPointer)
    /// The request body ended (END_STREAM on DATA or on trailers).
    func h2RequestEnded(_ stream: Int32)
    /// How many response body bytes of `stream` the next DATA frame carries, asked for
    /// when nghttp2 can send DATA: at most `max` for a frame copied into `produce`'s
    /// buffer, at most `inPlaceMax` for one the delegate will pass on in place (0: not
    /// offered). `preceding`: bytes `produce` already wrote, which a frame sent in place
    /// takes along first (`h2SendResponseBodyInPlace`). Nothing is copied yet: the bytes
    /// stay where they are until the frame is written.
    func h2ResponseBodyReady(_ stream: Int32, max: Int, inPlaceMax: Int, preceding: Int) -> H2BodyChunk
    /// Passes on the `preceding` bytes, then a DATA frame — `header` followed by the first
    /// `count` ready bytes of `stream`'s body — straight from where the body is staged,
    /// with no copy into `produce`'s buffer, and lets the body bytes go. All of it or
    /// nothing: `.copy` (not possible here: the frame is copied as usual) and
    /// `.wouldBlock` (no room to pass it on now; asked again later) leave everything as it
    /// was. Asked only with `H2ServerSession.sendsDataInPlace` on, for frames of
    /// `H2ServerSession.smallestFrameInPlace` bytes or more.
    func h2SendResponseBodyInPlace(_ stream: Int32, header: UnsafeRawBufferPointer, count: Int, preceding: UnsafeRawBufferPointer) -> H2InPlaceSend
    /// Copies the first `buffer.count` ready bytes of `stream`'s response body into the
    /// frame being written and lets them go. Always the count `h2ResponseBodyReady` gave,
    /// or less. False when they are not there (the stream's body is gone): nghttp2 then
    /// resets the stream rather than send bytes that are not its answer.
    func h2CopyResponseBody(_ stream: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Bool
    /// The stream's last frame (END_STREAM) was serialised: its response is complete.
    func h2ResponseSent(_ stream: Int32)
    /// A GOAWAY left; a non-zero `errorCode` means nghttp2 ended the session because the
    /// client broke the protocol or a flood limit; `reason` is nghttp2's debug text for it
    /// (which limit), or empty.
    func h2GoAwaySent(errorCode: UInt32, reason: String)
    /// The stream is gone: answered, reset by either side, or the session ended.
    /// `errorCode` is the RFC 9113 code (0: NO_ERROR).
    func h2StreamClosed(_ stream: Int32, errorCode: UInt32)
}
