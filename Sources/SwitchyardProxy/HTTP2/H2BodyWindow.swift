/// Where an answer's next body bytes may be received straight into an HTTP/2 stream
/// (`H2Stream.bodyReceiveWindow`).
enum H2BodyWindow {
    /// Room at the end of the stream's staged body.
    case room(UnsafeMutableRawBufferPointer)
    /// None until DATA frames leave; the stream resumes the exchange then.
    case full
    /// The stream takes no more body: its answer is complete.
    case complete
}
