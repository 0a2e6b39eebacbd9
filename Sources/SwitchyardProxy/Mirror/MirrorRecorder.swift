import SwitchyardCompare
import SwitchyardHTTP
import SwitchyardSystem
import SwitchyardTLS

/// One side of a mirrored pair as it streams past: status and header fields, the body's
/// SHA-256 and length, and the body itself up to `MirrorAnswer.captureLimit` (a longer body
/// is hashed without being held). Recycled per worker (`WorkerMirror.takeRecorder`): the
/// digest context is made once.
final class MirrorRecorder {
    var status = 0
    var failure: MirrorAnswer.Failure?
    var headers: [(name: String, value: String)] = []
    private let digest = SHA256Stream()
    private var capture: [UInt8]? = []
    private(set) var length = 0
    var startNanoseconds: UInt64 = 0
    var endNanoseconds: UInt64 = 0

    /// The final response's head (status and fields as received).
    func head(_ parser: HTTPResponseParser, _ base: UnsafeRawPointer) {
        status = parser.status
        headers.removeAll(keepingCapacity: true)
        var i = 0
        while i < parser.headerCount {
            let field = parser.header(i)
            headers.append((name: String(decoding: HeadWriter.slice(base, field.name), as: UTF8.self),
                            value: String(decoding: HeadWriter.slice(base, field.value), as: UTF8.self)))
            i += 1
        }
    }

    /// Body bytes as received (still content-encoded, de-framed).
    func body(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        digest.update(bytes)
        length += bytes.count
        if capture != nil {
            if capture!.count + bytes.count > MirrorAnswer.captureLimit {
                capture = nil   // over the limit: compared by hash only, and not held
            } else {
                capture!.append(contentsOf: bytes)
            }
        }
    }

    func ended(failure: MirrorAnswer.Failure?) {
        if self.failure == nil { self.failure = failure }
        endNanoseconds = Clock.monotonicNanoseconds()
    }

    /// What the comparer gets; the recorder is then ready for `reset`.
    func answer() -> MirrorAnswer {
        let latency = endNanoseconds >= startNanoseconds ? Int((endNanoseconds - startNanoseconds) / 1000) : 0
        return MirrorAnswer(status: status, failure: failure, headers: headers, body: failure == nil ? capture : nil,
                            bodyHash: digest.finish(), bodyLength: length, latencyMicros: latency)
    }

    func reset() {
        status = 0
        failure = nil
        headers = []
        digest.reset()
        capture = []
        length = 0
        startNanoseconds = Clock.monotonicNanoseconds()
        endNanoseconds = 0
    }
}
