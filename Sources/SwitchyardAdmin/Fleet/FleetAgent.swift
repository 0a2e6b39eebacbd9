import Foundation
import Glibc
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardSystem

/// This instance's part in a fleet (`fleet` in the routes file). Two threads of its own talk
/// to etcd — never an event loop: the watcher follows the `state` key and applies what it
/// sees through the admin commit path; the heartbeat renews the instance's lease, writes its
/// `instances/<name>` record and reads the others'. Admin changes go through `prepareChange`
/// and `commit`, on the admin thread, under the commit lock.
public final class FleetAgent: @unchecked Sendable {
    /// Commands that stay on this host in fleet mode: `reload` reads this host's routes
    /// file; `drain` closes this host's connections.
    static let localCommands: Set<String> = ["reload", "drain", "compare", "fleet"]

    let config: FleetConfig
    let keys: FleetKeys
    public let instanceName: String
    let credentials: (user: String, password: String)?
    let errorLog: ErrorLog
    /// Set once at start; the service outlives the agent's threads (the process does).
    private(set) weak var service: AdminService?

    let link: Locked<FleetLink>
    /// What this instance applied last: generation and the store revision it came from.
    let applied: Locked<(generation: UInt64, revision: Int64, atMilliseconds: UInt64)>
    /// The other instances as the heartbeat read them last.
    let view = Locked(FleetView())
    /// When the heartbeat last read each instance's record live, and when it first read the
    /// store (monotonic ms; nil: not yet): what `fleet forget` goes by to tell a retired
    /// instance from one only cut off from the store (`FleetAgent+Forget`).
    let lastSeen = Locked<[String: UInt64]>([:])
    let watchingSince = Locked<UInt64?>(nil)
    /// The current lease (the heartbeat's), for the commit path's own record write.
    let lease = Locked<Int64?>(nil)
    let stopped = Locked(false)
    /// The admin thread's client (used under the commit lock only).
    let commitClient: EtcdClient
    /// The guards' latches as last read (`FleetLatches`): by a change, by a latch's write,
    /// and by the heartbeat every half second.
    let latchView = Locked<FleetLatchView?>(nil)
    /// The `latches` key's mod_revision as `prepareChange` read it: the change's transaction
    /// is guarded by it too, so a trip elsewhere between the read and the commit refuses it.
    private var pendingLatchRevision: Int64?
    /// Why `prepareChange` could not read the latches (nil: it read them).
    private var latchReadFailure: String?
    /// The mod_revision of the last `latches` document that did not parse (said once).
    let unreadableLatches = Locked<Int64>(0)
    /// The store's copy read by `prepareChange` for the `commit` that follows.
    private var pendingRead: (modRevision: Int64, generation: UInt64, state: RuntimeState, raw: Data)?
    /// The generation `fetchHistoryForRevert` added to the local history for the command
    /// being judged; nil once that command committed. Taken back otherwise
    /// (`dropUncommittedHistory`): a refused command changes nothing, the history included.
    private var fetchedForRevert: UInt64?

    /// `password`: the first line of the password file, read by `serve` at start.
    public init(config: FleetConfig, password: String?, errorLog: ErrorLog) {
        self.config = config
        keys = FleetKeys(fleet: config.name)
        instanceName = config.instance ?? Self.hostName()
        credentials = config.user.map { ($0, password ?? "") }
        self.errorLog = errorLog
        link = Locked(FleetLink(nowMilliseconds: Clock.monotonicMilliseconds()))
        applied = Locked((0, 0, 0))
        commitClient = EtcdClient(endpoints: config.endpoints, credentials: credentials)
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Starts following the store. `service` serves the table the agent changes.
    public func start(service: AdminService) {
        self.service = service
        applied.withLock { $0 = (service.table.generation, 0, Self.wallMilliseconds()) }
        let watcher = Thread { [self] in
            var watcher = FleetWatcher(agent: self)
            watcher.run()
        }
        watcher.name = "fleet-watch"
        watcher.start()
        let heartbeat = Thread { [self] in
            var heartbeat = FleetHeartbeat(agent: self)
            heartbeat.run()
        }
        heartbeat.name = "fleet-heartbeat"
        heartbeat.start()
    }

    public func stop() { stopped.withLock { $0 = true } }
    var isStopped: Bool { stopped.withLock { $0 } }

    static func wallMilliseconds() -> UInt64 { Clock.wallMicroseconds() / 1000 }
    static func wallText() -> String { AuditLog.now() }

    /// The link with the clock applied first: whoever looks (status, a change, the metrics,
    /// either thread) sees "detached" as soon as 5 s passed, not when a blocked call returns.
    func currentLink() -> FleetLink {
        let (link, becameDetached) = self.link.withLock { link -> (FleetLink, Bool) in
            let became = link.tick(nowMilliseconds: Clock.monotonicMilliseconds(), wall: Self.wallText())
            return (link, became)
        }
        if becameDetached, case .detached(_, let since, let reason) = link.phase {
            errorLog.error("fleet \(config.name): DETACHED since \(since) (\(reason)), serving generation \(service?.table.generation ?? 0)")
        }
        return link
    }

    // MARK: changes (admin thread, commit lock held)

    /// Refuses when detached; reads the store's state (linearizable) and catches up with it,
    /// so that the command computes its change from the store's copy.
    func prepareChange(_ service: AdminService, _ command: AdminCommandLine) throws(AdminError) {
        pendingRead = nil
        pendingLatchRevision = nil
        latchReadFailure = nil
        fetchedForRevert = nil
        if let refusal = currentLink().changeRefusal { throw AdminError(refusal) }
        // A read is safe to repeat: each endpoint gets one try (a dead member, a leader
        // election in progress) before the change is refused.
        let (state, failures) = onAnyEndpoint { () throws(EtcdError) in try commitClient.range(keys.state) }
        guard let read = state else {
            throw AdminError("fleet \(config.name): cannot read the state (\(failures.joined(separator: "; "))): not applied anywhere")
        }
        link.withLock { $0.callSucceeded(nowMilliseconds: Clock.monotonicMilliseconds()) }
        guard let kv = read.kvs.first else {
            throw AdminError("fleet \(config.name): the store has no state yet (the watcher seeds it): not applied anywhere, retry")
        }
        let document = try FleetDocument.decode(kv.value)
        switch FleetApplyDecision.decide(storeGeneration: document.generation, localGeneration: service.table.generation, whole: true) {
        case .apply:
            _ = try service.applyFleetDocumentLocked(document)
            noteApplied(document.generation, revision: kv.modRevision)
        case .storeBehind(let alarm):
            link.withLock { $0.storeBehind(alarm) }
            throw AdminError("\(alarm): not applied anywhere")
        case .ignore:
            break
        }
        // The fleet's latches, read after the state: a raise this change makes is refused
        // by a trip on any instance (`refuseGuardedRaise`), and `guard ROUTE ack` sees them.
        // Tried on each endpoint like the state; unreadable, only a change that raises a
        // share is refused (`commit`): a revert, an abort or a release never needs them.
        let (latches, latchFailures) = onAnyEndpoint { () throws(EtcdError) in try readLatches(using: commitClient) }
        if let latches {
            noteLatches(latches)
            pendingLatchRevision = latches.modRevision
        } else {
            latchReadFailure = latchFailures.joined(separator: "; ")
        }
        pendingRead = (kv.modRevision, document.generation, document.state, kv.value)
        try fetchHistoryForRevert(service, command)
    }

    /// `call` on the admin client's endpoint, then on each next one after a failure (a
    /// read is safe to repeat): its value, or nil and every endpoint's failure.
    func onAnyEndpoint<T>(_ call: () throws(EtcdError) -> T) -> (T?, [String]) {
        var failures: [String] = []
        for _ in config.endpoints {
            do {
                return (try call(), failures)
            } catch {
                failures.append(error.description)
                commitClient.rotate()
            }
        }
        return (nil, failures)
    }

    /// `revert to N` of a generation this instance never applied (it joined later, or was
    /// down): the state comes from the store's `history/N`, added to the local history.
    private func fetchHistoryForRevert(_ service: AdminService, _ command: AdminCommandLine) throws(AdminError) {
        guard command.words.count == 3, command.words[0] == "revert", command.words[1] == "to",
              let n = UInt64(command.words[2]), !service.history.contains(where: { $0.generation == n }) else { return }
        guard let read = try? commitClient.range(keys.history(n)), let kv = read.kvs.first else { return }
        let document = try FleetDocument.decode(kv.value)
        let entry = HistoryEntry(generation: n, time: document.time, uid: document.uid, user: document.user,
                                 command: AdminText.stored("\(document.command) (fleet, via \(document.instance))"),
                                 reason: document.reason.map(AdminText.stored),
                                 changes: document.changes, state: document.state)
        let index = service.history.firstIndex { $0.generation > n } ?? service.history.endIndex
        service.history.insert(entry, at: index)
        fetchedForRevert = n
    }

    /// After a change command through the fleet, whatever its outcome: the entry fetched
    /// for a `revert to N` that did not commit (refused, "nothing changed", the store
    /// unreachable) leaves the history as it was. Before, it stayed, and the next state
    /// file written kept it.
    func dropUncommittedHistory(_ service: AdminService) {
        guard let n = fetchedForRevert else { return }
        fetchedForRevert = nil
        service.history.removeAll { $0.generation == n }
    }

    /// Commits `change` to the store in one transaction guarded by the state's mod_revision,
    /// then applies it here through the commit path and waits (≤ 1 s) for the others.
    func commit(_ change: AdminService.Change, _ command: AdminCommandLine, _ caller: Caller,
                service: AdminService) throws(AdminError) -> AdminAnswer {
        guard let read = pendingRead else { preconditionFailure("commit without prepareChange") }
        pendingRead = nil
        let old = service.table
        let generation = old.generation + 1
        let newTable: RouteTable
        do {
            newTable = try RouteTable.build(config: service.config, state: change.state, generation: generation)
        } catch {
            throw AdminError(error.description.replacingOccurrences(of: "\n", with: "; "))
        }
        let routingChanges = newTable.describeChanges(from: old)
        // Compared by effect, as the local commit does: an override equal to the file is no change.
        if change.state == old.state || routingChanges.isEmpty {
            return .success("nothing changed (generation \(old.generation))", json: ["generation": old.generation, "changes": []])
        }
        // A latched guard here refuses the raise before the store has it: checked after the
        // commit, the others would already serve it and this instance's watcher would apply
        // it too, under an answer that says it was refused.
        let raises = service.raisesAShare(old: old, newState: change.state)
        if raises, let failure = latchReadFailure {
            throw AdminError("fleet \(config.name): cannot read the guards' latches (\(failure)), and this change raises a share: not applied anywhere (a change that only lowers shares goes through)")
        }
        try service.refuseGuardedRaise(old: old, newState: change.state, config: service.config)
        let changes = routingChanges + change.extraLines
        let time = Self.wallText()
        let document = FleetDocument(generation: generation, state: Self.shared(read.state, old: old.state, new: newTable.state),
                                     instance: instanceName, user: caller.userName,
                                     uid: caller.uid, command: AdminText.stored(command.text),
                                     reason: command.reason.map(AdminText.stored), changes: changes, time: time,
                                     committedAtMilliseconds: Self.wallMilliseconds())
        let record = FleetAuditRecord(generation: generation, generationBefore: old.generation, instance: instanceName,
                                      user: caller.userName, uid: caller.uid, command: document.command, reason: document.reason,
                                      changes: changes, time: time)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let auditData = (try? encoder.encode(record)) ?? Data()
        var deletes: [String] = []
        if generation > FleetKeys.historyKept { deletes.append(keys.history(generation - FleetKeys.historyKept)) }
        let revision: Int64
        var readBackNote: String?
        do {
            // Guarded by the latches key too when the change raises a share: a trip elsewhere
            // between our read and this transaction refuses it. A change that raises nothing
            // (a revert, an abort) never conflicts with a latch.
            var guards: [EtcdClient.Compare] = [.modRevision(keys.state, read.modRevision)]
            if raises, let latchRevision = pendingLatchRevision { guards.append(.modRevision(keys.latches, latchRevision)) }
            let result = try commitClient.txn(guards,
                                              puts: [(keys.state, document.encoded()), (keys.audit(generation), auditData),
                                                     (keys.history(generation), document.encoded())],
                                              deletes: deletes, readOnFailure: keys.state)
            guard result.succeeded else {
                let now = result.current.first.flatMap { try? FleetDocument.decode($0.value) }?.generation
                if now == read.generation {
                    throw AdminError("conflict: the fleet's state or a guard's latch changed meanwhile (`guards` shows latches), retry")
                }
                throw AdminError("conflict: the fleet is at generation \(now.map(String.init) ?? "?"), retry")
            }
            revision = result.revision
        } catch let error as EtcdError {
            commitClient.rotate()
            revision = try readBack(document, read: (read.modRevision, read.raw), after: error)
            readBackNote = "fleet \(config.name): the transaction's answer was lost or inconclusive (\(error)); read back from etcd: committed"
        } catch let error as AdminError {
            throw error
        } catch {
            preconditionFailure("txn throws EtcdError or AdminError only")
        }
        link.withLock { $0.callSucceeded(nowMilliseconds: Clock.monotonicMilliseconds()) }
        // Committed in the store: now here, through the same path as any local change. A
        // failure here (the state file, a server's name) must not read as "nothing changed":
        // the other instances apply the store's generation.
        var answer: AdminAnswer
        do {
            answer = try service.commit(change, command, caller, generation: generation, checkedAgainstStore: true)
            fetchedForRevert = nil
        } catch {
            throw AdminError("fleet \(config.name): committed to the store as generation \(generation), which the other instances apply, but this instance could not apply it (\(error.message)); its watcher tries again from the store, and `status` says if it cannot")
        }
        noteApplied(generation, revision: revision)
        writeOwnRecord(using: commitClient)
        let laggards = waitForAcknowledgements(generation)
        let line = laggards.isEmpty
            ? "fleet \(config.name): every live instance serves generation \(generation)"
            : "fleet \(config.name): not yet acknowledged after 1 s by " + laggards.joined(separator: ", ")
        answer.text += "\n" + line
        if let readBackNote { answer.text += "\n" + readBackNote }
        if let data = answer.json.data(using: .utf8), var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            object["fleet"] = ["generation": generation, "revision": revision, "laggards": laggards]
            answer.json = AdminAnswer.encode(object)
        }
        return answer
    }

    /// The state the fleet gets from a change made here: the store's, with the routes this
    /// change touched replaced. A route another instance's file still has and this one's no
    /// longer does (a rolling edit of the routes files), or whose override this instance
    /// dropped when its file changed, keeps the store's runtime: sent as this instance
    /// holds it, every other instance would move its users back to the file's default,
    /// under an audit record that never names the route.
    static func shared(_ stored: RuntimeState, old: RuntimeState, new: RuntimeState) -> RuntimeState {
        var shared = stored
        for name in Set(old.routes.keys).union(new.routes.keys) where old.routes[name] != new.routes[name] {
            shared.routes[name] = new.routes[name]
        }
        return shared
    }

    /// A transaction whose answer never came may have committed: find out before anyone
    /// retries, and say which it was. `history/<G>` is written only by the transaction that
    /// made generation G (guarded by the state's revision), so it — not `state`, which a
    /// later change by another instance, a guard or a plan may already have replaced —
    /// says whether ours landed. When it is not there, the state we read is put back under
    /// the same guard (a fence): once that succeeds, the lost transaction can never land
    /// late, and "not applied anywhere, retry" is certain. (A `flip` retried after a wrong
    /// "retry" flips users back.)
    private func readBack(_ document: FleetDocument, read: (modRevision: Int64, raw: Data), after error: EtcdError) throws(AdminError) -> Int64 {
        guard error.maybeApplied else {
            throw AdminError("fleet \(config.name): cannot reach etcd (\(error)): not applied anywhere")
        }
        func ours() throws(EtcdError) -> Int64? {
            let history = try commitClient.range(keys.history(document.generation))
            // Ours by its bytes, as sent (decoding screens texts; the bytes are what we wrote).
            guard let kv = history.kvs.first, kv.value == document.encoded() else { return nil }
            return kv.modRevision
        }
        for _ in 0..<3 {
            do {
                if let revision = try ours() { return revision }
                let fence = try commitClient.txn([.modRevision(keys.state, read.modRevision)], puts: [(keys.state, read.raw)],
                                                 readOnFailure: keys.state)
                if fence.succeeded {
                    throw AdminError("fleet \(config.name): the transaction timed out and did not commit (\(error)): not applied anywhere, retry")
                }
                // The state moved on since our read: ours, or another's.
                if let revision = try ours() { return revision }
                throw AdminError("fleet \(config.name): the transaction timed out (\(error)) and another change committed first: not applied anywhere; check `status` before retrying")
            } catch let failure as EtcdError {
                commitClient.rotate()
                errorLog.warning("fleet: reading back a timed-out transaction: \(failure)")
            } catch let refusal as AdminError {
                throw refusal
            } catch {}
        }
        throw AdminError("fleet \(config.name): the transaction timed out and etcd cannot be read back (\(error)): the change may or may not be in the store; check `status` before retrying")
    }

    func noteApplied(_ generation: UInt64, revision: Int64) {
        applied.withLock { $0 = (generation, max($0.revision, revision), Self.wallMilliseconds()) }
    }

    /// Polls the instance records until every live one serves `generation` (≤ 1 s). Returns
    /// those that lag, as "name (generation N)".
    private func waitForAcknowledgements(_ generation: UInt64) -> [String] {
        let deadline = Clock.monotonicMilliseconds() + 1000
        var laggards: [String] = []
        repeat {
            guard let read = try? commitClient.range(keys.instances, prefix: true) else {
                commitClient.rotate()
                return ["(instance records unreadable)"]
            }
            laggards = read.kvs.compactMap { kv in
                guard let record = try? JSONDecoder().decode(FleetInstanceRecord.self, from: kv.value) else { return nil }
                // Serving it, and synced: an instance in alarm (its store went back) may show
                // a higher generation it serves on its own; that is not agreement.
                // The status is named only when it, not the generation, is why it lags.
                if record.generation < generation { return "\(AdminText.screened(record.name)) (generation \(record.generation))" }
                return record.status == "synced" ? nil
                    : "\(AdminText.screened(record.name)) (generation \(record.generation), \(AdminText.screened(record.status)))"
            }
            if laggards.isEmpty { return [] }
            usleep(10_000)
        } while Clock.monotonicMilliseconds() < deadline
        return laggards
    }

    // MARK: records

    /// This instance's record as it stands. `measuringHold`: with the writes in flight on
    /// held routes, counted after the generation was read (the heartbeat's record).
    func ownRecord(measuringHold: Bool = false) -> FleetInstanceRecord {
        let (generation, revision, at) = applied.withLock { $0 }
        let link = currentLink()
        let (word, error) = (link.statusWord, link.rejection ?? link.alarm ?? link.lastError)
        var record = FleetInstanceRecord(name: instanceName, generation: generation, revision: revision, appliedAtMilliseconds: at,
                                         seenAtMilliseconds: Self.wallMilliseconds(), status: word, error: error)
        // Only in the minute after a generation was applied (a hold's quiescence waits 30 s
        // at most): the count asks every worker, which a heartbeat need not do for the
        // whole of a 10-minute hold.
        if measuringHold, Self.wallMilliseconds() &- at < 60_000 { record.heldWritesInFlight = service?.heldWritesInFlight() }
        return record
    }

    /// Writes `instances/<name>` under the current lease (no lease yet: nothing to do).
    func writeOwnRecord(using client: EtcdClient) {
        guard let lease = lease.withLock({ $0 }) else { return }
        guard let data = try? JSONEncoder().encode(ownRecord()) else { return }
        do { try client.put(keys.instance(instanceName), data, lease: lease) } catch {
            errorLog.warning("fleet: writing the instance record: \(error)")
        }
    }
}

/// The fleet as the heartbeat read it last.
struct FleetView {
    var instances: [FleetInstanceRecord] = []
    /// Instances that joined once and hold no live record now.
    var gone: [String] = []
    var storeGeneration: UInt64?
    var readAtMilliseconds: UInt64 = 0
}
