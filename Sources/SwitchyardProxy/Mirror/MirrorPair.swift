import SwitchyardCompare

/// A mirrored request: the primary's answer (recorded as it is relayed to the user) and the
/// copies sent for it (the mirror target's, and for a noise sample the primary side's
/// second). When every part has ended — answered, failed or timed out — one `MirrorSample`
/// per copy goes to the worker's outbox. Confined to the worker's thread.
final class MirrorPair {
    let route: String
    let method: String
    /// Without the query string (never stored, never compared).
    let path: String
    let primary: MirrorRecorder
    private(set) var copies: [MirrorExchange] = []
    /// The primary and the copies still running.
    private var openParts = 1
    /// The user's request failed over to another side after the fork: its answer is no
    /// longer the primary side's (with the target the other side, the pair would compare
    /// the target with itself, always matching), so no sample is delivered.
    private(set) var discarded = false
    unowned let mirror: WorkerMirror

    init(route: String, method: String, path: String, primary: MirrorRecorder, mirror: WorkerMirror) {
        self.route = route
        self.method = method
        self.path = path
        self.primary = primary
        self.mirror = mirror
        mirror.livePairs += 1
    }

    func added(_ copy: MirrorExchange) {
        copies.append(copy)
        openParts += 1
    }

    /// See `discarded`; the copies still run to their end (their connections are pooled).
    func discard() { discarded = true }

    /// The primary or a copy ended; the last one hands the samples over.
    func partEnded() {
        openParts -= 1
        precondition(openParts >= 0, "a mirrored pair's part ended twice")
        guard openParts == 0 else { return }
        mirror.livePairs -= 1
        let answer = primary.answer()
        for copy in copies {
            if !discarded {
                mirror.deliver(MirrorSample(kind: copy.kind, route: route, target: copy.target, method: method, path: path,
                                            primary: answer, other: copy.recorder.answer()))
            }
            mirror.giveRecorder(copy.recorder)
        }
        mirror.giveRecorder(primary)
        copies.removeAll()
    }
}
