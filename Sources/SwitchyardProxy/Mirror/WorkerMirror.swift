import SwitchyardCompare
import SwitchyardHTTP
import SwitchyardSystem

/// One worker's mirror: its own connections to mirror servers, its bounds and counters per
/// target backend, the copies in flight (for their deadline), and the outbox of finished
/// samples the admin thread drains (`Proxy.drainMirrorSamples`). Made when the worker
/// forks its first copy; a proxy that never mirrors has none. Confined to the worker's thread.
final class WorkerMirror: DeferredWork {
    unowned let loop: EventLoop
    let buffers: BufferPool
    let workers: Int
    private let limits: HTTPLimits
    private var servers: [String: MirrorServer] = [:]
    private(set) var limiters: [String: MirrorLimiter] = [:]
    private(set) var active: [MirrorExchange] = []
    private var recorders: [MirrorRecorder] = []
    private var parsers: [HTTPResponseParser] = []
    /// Finished samples waiting for the admin thread; bounded, the overflow counted.
    private(set) var outbox: [MirrorSample] = []
    private(set) var outboxDropped = 0
    /// Captured body bytes held in the outbox: bounded too, since a sample may carry up to
    /// 2 MiB of bodies (both sides at `MirrorAnswer.captureLimit`).
    private var outboxBytes = 0
    /// Pairs not yet handed over: each holds its captures (up to 1 MiB a side) until its
    /// primary has ended too, which a slow reader can make last; `forkMirror` bounds them.
    var livePairs = 0
    static let outboxLimit = 4_096
    static let outboxByteLimit = 64 << 20
    /// A copy not answered by then is given up (counted as a timeout; `ProxySettings`).
    let deadlineMilliseconds: UInt64

    init(loop: EventLoop, buffers: BufferPool, workers: Int, limits: HTTPLimits, deadlineMilliseconds: UInt64) {
        self.deadlineMilliseconds = deadlineMilliseconds
        self.loop = loop
        self.buffers = buffers
        self.workers = workers
        self.limits = limits
        active.reserveCapacity(64)
    }

    func limiter(for backend: String) -> MirrorLimiter {
        if let existing = limiters[backend] { return existing }
        let made = MirrorLimiter()
        limiters[backend] = made
        return made
    }

    func server(key: String, address: SocketAddress, tls: UpstreamTLS?) -> MirrorServer {
        if let existing = servers[key] {
            // A reload may have replaced the context; one that changed the settings (a plain
            // server now `tls`) must not see copies go on over the old, plain connections.
            if !UpstreamTLS.sameSettings(existing.tls, tls) { existing.closeIdle() }
            existing.tls = tls
            return existing
        }
        let made = MirrorServer(key: key, address: address)
        made.tls = tls
        servers[key] = made
        return made
    }

    func takeRecorder() -> MirrorRecorder {
        let recorder = recorders.popLast() ?? MirrorRecorder()
        recorder.reset()
        return recorder
    }

    func giveRecorder(_ recorder: MirrorRecorder) {
        if recorders.count < 256 { recorders.append(recorder) }
    }

    func takeParser() -> HTTPResponseParser {
        if let parser = parsers.popLast() { return parser }
        return HTTPResponseParser(limits: limits)
    }

    func giveParser(_ parser: HTTPResponseParser) {
        parser.reset()
        if parsers.count < 256 { parsers.append(parser) }
    }

    /// Starts a copy (already admitted by its limiter).
    /// Copies forked during this batch of events, started once it is done (`runDeferred`):
    /// the user's own request leaves first, and the copy's connect and write never sit between
    /// the decision point and the primary's forwarding.
    private var starting: [MirrorExchange] = []

    func launch(_ copy: MirrorExchange) {
        active.appendIndexed(copy)
        if starting.isEmpty { loop.runAfterEvents(self) }
        starting.append(copy)
    }

    func runDeferred() {
        // A copy may have ended meanwhile (the worker's tick: deadline, shutdown).
        for copy in starting where !copy.ended { copy.start() }
        starting.removeAll(keepingCapacity: true)
    }

    func copyEnded(_ copy: MirrorExchange, failure: MirrorAnswer.Failure?) {
        active.removeIndexed(copy)
        copy.limiter.ended(failure: failure)
    }

    func deliver(_ sample: MirrorSample) {
        let bytes = (sample.primary.body?.count ?? 0) + (sample.other.body?.count ?? 0)
        guard outbox.count < Self.outboxLimit, outboxBytes + bytes <= Self.outboxByteLimit else {
            outboxDropped += 1
            return
        }
        outboxBytes += bytes
        outbox.append(sample)
    }

    func takeOutbox() -> [MirrorSample] {
        let taken = outbox
        outbox = []
        outboxBytes = 0
        return taken
    }

    /// The worker's tick: copies past their deadline are given up.
    func tick(now: UInt64) {
        var i = active.count - 1
        while i >= 0 {
            if i < active.count, active[i].deadline <= now { active[i].timedOut() }
            i -= 1
        }
    }

    /// The worker stops: copies in flight end as timed out, idle connections close.
    func closeAll() {
        while let copy = active.last { copy.timedOut() }
        for server in servers.values { server.closeIdle() }
    }
}
