import Foundation
import Glibc
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardSystem

/// `hold ROUTE|all [--max-wait 60s]` and `release ROUTE|all [--rate 100/s]`. Both are
/// runtime-state changes through the commit path (a new generation, saved, audited); their
/// follow-ups run after the commit lock is released: the hold waits for the writes already
/// in flight upstream (quiescence), the release paces the parked requests upstream.
public enum HoldCommands {
    /// How long `hold` waits for writes in flight before it answers with what still runs.
    /// 30 s; tests of a `serve` process shorten it with `SWITCHYARD_QUIESCENCE_MS_FOR_TESTING`.
    static let quiescenceMilliseconds: UInt64 =
        ProcessInfo.processInfo.environment["SWITCHYARD_QUIESCENCE_MS_FOR_TESTING"].flatMap { UInt64($0) } ?? 30_000
    static let defaultRate = 100
    static let maxRate = 10_000

    static func hold(_ service: AdminService, _ command: AdminCommandLine) throws(AdminError) -> AdminService.Change {
        guard command.words.count == 2 else { throw AdminError("usage: hold ROUTE|all [--max-wait 60s] [--reason TEXT]") }
        let waitSeconds = try maxWait(command.maxWait)
        let targets: [CompiledRoute]
        if command.words[1] == "all" {
            targets = service.table.routes.filter { $0.mode == .http && $0.hold == nil }
            guard !targets.isEmpty else { throw AdminError("no http route left to hold (held already: \(heldNames(service)))") }
        } else {
            let route = try AdminCommands.route(service, command.words[1])
            guard route.mode == .http else {
                throw AdminError("route \(route.name) is mode tcp: only http writes can be held")
            }
            if let hold = route.hold {
                throw AdminError("route \(route.name) is already held (since \(AuditLog.timestamp(hold.state.since))); release it first")
            }
            targets = [route]
        }
        var state = service.table.state
        let since = Date().timeIntervalSince1970
        for route in targets {
            var runtime = state.routes[route.name] ?? RouteRuntime()
            runtime.hold = HoldState(since: since, maxWaitSeconds: waitSeconds, reason: command.reason)
            state.routes[route.name] = runtime
        }
        let names = targets.map(\.name)
        return .init(state: state, followUp: { service, progress in quiesce(service, names, progress: progress) })
    }

    static func release(_ service: AdminService, _ command: AdminCommandLine) throws(AdminError) -> AdminService.Change {
        guard command.words.count == 2 else { throw AdminError("usage: release ROUTE|all [--rate 100/s] [--reason TEXT]") }
        let rate = try parseRate(command.rate)
        let targets: [CompiledRoute]
        if command.words[1] == "all" {
            targets = service.table.routes.filter { $0.hold != nil }
            guard !targets.isEmpty else { throw AdminError("no route is held") }
        } else {
            let route = try AdminCommands.route(service, command.words[1])
            guard route.hold != nil else { throw AdminError("route \(route.name) is not held") }
            targets = [route]
        }
        var state = service.table.state
        for route in targets {
            var runtime = state.routes[route.name] ?? RouteRuntime()
            runtime.hold = nil
            state.routes[route.name] = runtime.isEmpty ? nil : runtime
        }
        let names = targets.map(\.name)
        let text = command.text
        return .init(state: state, followUp: { service, progress in drain(service, names, rate: rate, command: text, progress: progress) })
    }

    /// For a change that is not `release` but ends holds (`revert` to a generation before
    /// the hold, a `reload`): the parked requests of those routes are released at the default
    /// rate, so none waits for its max-wait. nil when no hold ended.
    static func releaseFollowUp(from old: RouteTable, to new: RouteTable, command: String) -> (@Sendable (AdminService, AdminProgress) -> [String])? {
        let ended = old.routes.filter { route in
            route.hold != nil && (new.routeIndex(named: route.name).map { new.routes[$0].hold == nil } ?? true)
        }.map(\.name)
        guard !ended.isEmpty else { return nil }
        return { service, progress in drain(service, ended, rate: defaultRate, command: command, progress: progress) }
    }

    // MARK: values

    /// `--max-wait`: 1 s … 300 s (default 60 s), whole seconds (rounded up).
    static func maxWait(_ text: String?) throws(AdminError) -> Int {
        guard let text else { return HoldState.defaultMaxWaitSeconds }
        let milliseconds = try Duration.parseMilliseconds(text)
        guard milliseconds >= 1000 else { throw AdminError("--max-wait \(text) is too short (at least 1s)") }
        guard milliseconds <= UInt64(HoldState.maxMaxWaitSeconds) * 1000 else {
            throw AdminError("--max-wait \(text) is too long (at most \(HoldState.maxMaxWaitSeconds)s: a client waits that long for its answer)")
        }
        return Int((milliseconds + 999) / 1000)
    }

    /// `--rate N/s` (or `N`): 1 … 10000 requests per second (default 100).
    static func parseRate(_ text: String?) throws(AdminError) -> Int {
        guard let text else { return defaultRate }
        let number = text.hasSuffix("/s") ? String(text.dropLast(2)) : text
        guard let n = Int(number), !number.isEmpty, number.allSatisfy(\.isNumber), (1...maxRate).contains(n) else {
            throw AdminError("--rate \(text) is not a rate from 1/s to \(maxRate)/s (like 100/s)")
        }
        return n
    }

    static func heldNames(_ service: AdminService) -> String {
        let held = service.table.routes.filter { $0.hold != nil }.map(\.name)
        return held.isEmpty ? "none" : held.joined(separator: ", ")
    }

    // MARK: follow-ups

    /// Runs `body` on a thread of its own; the function returned waits for its lines.
    static func inBackground(_ body: @escaping @Sendable () -> [String]) -> () -> [String] {
        let done = DispatchSemaphore(value: 0)
        let lines = Locked<[String]>([])
        Thread {
            let result = body()
            lines.withLock { $0 = result }
            done.signal()
        }.start()
        return {
            done.wait()
            return lines.withLock { $0 }
        }
    }

    /// The words the answer ends with when the deadline came first; the CLI exits 4 on them.
    public static let notQuietMarker = "not quiet yet: do not freeze the database"

    /// Waits until no write of `names` is in flight upstream (or the quiescence deadline).
    /// Its answer is the signal that the database freeze may start.
    static func quiesce(_ service: AdminService, _ names: [String], progress: AdminProgress = .silent) -> [String] {
        let routes = Set(names)
        let generation = service.table.generation
        service.holdBook.began(names, rejections: service.dataPlane.holdSnapshot(routes: []).rejections)
        let deadline = Clock.monotonicMilliseconds() + quiescenceMilliseconds
        let list = names.joined(separator: ", ")
        while true {
            let snapshot = service.dataPlane.holdSnapshot(routes: routes)
            let inFlight = snapshot.writesInFlight.values.reduce(0, +)
            if inFlight == 0 {
                let line = "held: \(list) (writes); 0 in flight; \(snapshot.parked) parked"
                guard let fleet = service.fleet else { return [line] }
                return [fleetQuiesce(fleet, generation: generation, line: line, deadline: deadline, progress: progress)]
            }
            let now = Clock.monotonicMilliseconds()
            progress.report("\(inFlight) write(s) still in flight upstream, \((deadline &- min(now, deadline) + 999) / 1000)s left; \(snapshot.parked) parked", now: now)
            if now >= deadline {
                let servers = snapshot.writesInFlight.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
                return ["held: \(list) (writes); \(inFlight) still in flight after \(quiescenceMilliseconds / 1000)s on \(servers); \(snapshot.parked) parked — \(notQuietMarker)"]
            }
            usleep(10_000)
        }
    }

    /// In a fleet, after this instance's own writes: every other member must have applied
    /// the hold and report nothing in flight (`FleetAgent.holdLaggards`), or the answer says
    /// which did not, with the marker the CLI exits 4 on.
    private static func fleetQuiesce(_ fleet: FleetAgent, generation: UInt64, line: String, deadline: UInt64,
                                     progress: AdminProgress) -> String {
        let started = FleetAgent.wallMilliseconds()
        while true {
            let laggards = fleet.holdLaggards(generation: generation, readAfter: started)
            if laggards.isEmpty { return line + "; every other instance of fleet \(fleet.config.name) quiet" }
            let now = Clock.monotonicMilliseconds()
            if now >= deadline {
                return line + " here; not quiet after \(quiescenceMilliseconds / 1000)s on " + laggards.joined(separator: ", ") + " — \(notQuietMarker)"
            }
            progress.report("waiting for fleet \(fleet.config.name): " + laggards.joined(separator: ", ") + ", \((deadline &- now + 999) / 1000)s left", now: now)
            usleep(100_000)
        }
    }

    /// Sends the parked requests of the released routes upstream: oldest first, at most
    /// `Proxy.releaseConcurrency` running at once and `rate` per second; answers once the
    /// queue is empty and the released requests were answered (or 30 s later).
    ///
    /// Writes that come meanwhile wait at the back of the queue (`DrainGate`) until it is
    /// empty, so none is sent before an older one. Each lets one more go at once, and one
    /// more run, beyond the pace: the backend gets what it got when they went straight
    /// upstream, only in arrival order, and the queue still empties in (parked ÷ rate)
    /// seconds however many join. (Sent in order; up to 16 of the hold's writes run at once,
    /// plus one for each that joined.)
    static func drain(_ service: AdminService, _ names: [String], rate: Int, command: String,
                      progress: AdminProgress = .silent) -> [String] {
        let burst = Double(min(Proxy.releaseConcurrency, max(1, rate)))
        let routes = Set(names)
        let gates = service.dataPlane.drainGates(of: names)
        var tokens = 1.0
        var last = Clock.monotonicMilliseconds()
        var snapshot = service.dataPlane.holdSnapshot(routes: [])
        // Counted by this release's own steps and gates: another release running at once
        // sends and gets joiners of its own.
        var sentTotal = 0
        var joinersSent = 0
        // The longest wait of the writes this release sent (the snapshot's own longest is
        // since the process started: a release repeated an earlier hold's figure).
        var longestWait: UInt64 = 0
        // Releases owed to the writes that joined this release's queues, one each, outside
        // the pace.
        var credit = 0
        var joinedSeen = 0
        func joinedNow() -> Int { gates.reduce(0) { $0 + $1.joinedCount } }
        var gatesOpen = false
        var done = false
        // A parked request waits at most 300 s: past that nothing is left to release.
        let giveUp = last + service.holdBook.releaseGiveUpMilliseconds
        while !done && Clock.monotonicMilliseconds() < giveUp {
            let now = Clock.monotonicMilliseconds()
            tokens = min(burst, tokens + Double(rate) * Double(now - last) / 1000)
            last = now
            let joined = joinedNow()
            credit += joined - joinedSeen
            joinedSeen = joined
            let room = Proxy.releaseConcurrency + snapshot.joinedOutstanding - snapshot.releasedInFlight
            let allowance = min(Int(tokens) + credit, room)
            if allowance > 0 {
                snapshot = service.dataPlane.releaseParked(count: allowance, routes: routes, byClient: true)
                let sent = snapshot.releasedByStep
                sentTotal += sent
                joinersSent += snapshot.joinersSentByStep
                longestWait = max(longestWait, snapshot.longestWaitByStepMilliseconds)
                let owed = min(sent, credit)
                credit -= owed
                tokens -= Double(sent - owed)
                // Judged on a snapshot taken after the gates opened: a write that joined
                // just before is in it, and sent before the answer.
                if gatesOpen && snapshot.releasable == 0 { done = true }
                // The queue is empty (what the hold parked and what joined behind it) and the
                // hold's own writes were answered: new writes go straight up again, with
                // nothing older left to overtake, in the queue or at the backend.
                if !gatesOpen && snapshot.releasable == 0 && snapshot.heldWritesRunning == 0 {
                    service.dataPlane.openDrainGates(gates)
                    gatesOpen = true
                }
            } else {
                snapshot = service.dataPlane.holdSnapshot(routes: [])
            }
            if !done {
                progress.report("\(sentTotal) released, \(snapshot.releasable) still parked, \(snapshot.releasedInFlight) running", now: now)
                usleep(5_000)
            }
        }
        // Given up (310 s: the hold's own writes are answered by now): no write waits on
        // this release any longer, and those that joined go now, not at their own deadline.
        if !done {
            service.dataPlane.openDrainGates(gates)
            // Everything left goes, a client's later write too: nothing loops any more to
            // send it once the earlier one is answered.
            snapshot = service.dataPlane.releaseParked(count: max(snapshot.releasable, snapshot.parked), routes: routes, byClient: false)
            sentTotal += snapshot.releasedByStep
            joinersSent += snapshot.joinersSentByStep
            longestWait = max(longestWait, snapshot.longestWaitByStepMilliseconds)
        }
        // The answer waits for the released requests' own answers (bounded).
        let answered = Clock.monotonicMilliseconds() + quiescenceMilliseconds
        while snapshot.releasedInFlight > 0 && Clock.monotonicMilliseconds() < answered {
            usleep(10_000)
            snapshot = service.dataPlane.holdSnapshot(routes: [])
        }
        let joined = joinedNow()
        // The hold's own parked writes; those that came meanwhile are said apart.
        let released = max(0, sentTotal - joinersSent)
        let refused = service.holdBook.ended(names, rejections: snapshot.rejections)
        let refusedTotal = refused.values.reduce(0, +)
        let reasons = refused.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        var line = "released: \(names.joined(separator: ", ")); \(released) parked write(s) sent upstream in arrival order (\(rate)/s, at most \(Proxy.releaseConcurrency) at a time, and one more for each write that came meanwhile)"
        if joined > 0 { line += "; then \(joined) write(s) that came meanwhile and waited behind them" }
        line += "; longest wait \(String(format: "%.1f", Double(longestWait) / 1000))s"
        line += "; refused 503 while held: \(refusedTotal)" + (reasons.isEmpty ? "" : " (\(reasons))")
        if snapshot.releasedInFlight > 0 { line += "; \(snapshot.releasedInFlight) still running" }
        // The bound hits, as counts (never bodies), in the audit log beside the release.
        let me = Caller(uid: geteuid(), gid: getegid(), pid: getpid())
        service.appendOutsideCommand(.init(time: AuditLog.now(), outcome: "hold-report", uid: me.uid, pid: me.pid, user: me.userName,
                                           command: command, reason: nil, changes: [line], error: nil,
                                           generationBefore: nil, generation: service.table.generation, count: refusedTotal))
        return [line]
    }
}
