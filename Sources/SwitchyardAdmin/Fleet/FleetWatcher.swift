import Foundation
import Glibc
import SwitchyardSystem

/// The fleet's watch thread: reads the `state` key whole (at start, after a reconnect, after
/// a compaction), then follows it with a watch from the revision after, applying every newer
/// generation through the admin commit path. It never skips: whatever breaks the watch, it
/// starts again with a whole read.
struct FleetWatcher {
    let agent: FleetAgent
    private let client: EtcdClient
    private var backoff = FleetBackoff()
    private var random = SystemRandomNumberGenerator()

    init(agent: FleetAgent) {
        self.agent = agent
        client = EtcdClient(endpoints: agent.config.endpoints, credentials: agent.credentials)
    }

    /// How long the heartbeat may see a newer generation than the watch brought.
    static let staleWatchMilliseconds: UInt64 = 3_000

    mutating func run() {
        while !agent.isStopped {
            do {
                try follow()
            } catch {
                let now = Clock.monotonicMilliseconds()
                agent.link.withLock {
                    $0.callFailed(nowMilliseconds: now, reason: error.description, wall: FleetAgent.wallText())
                    $0.watchEnded(nowMilliseconds: now, reason: error.description, wall: FleetAgent.wallText())
                }
                client.rotate()
                usleep(UInt32(backoff.next(random: random.next()) * 1000))
            }
        }
    }

    /// One whole read and one watch, until the watch breaks (throws) or must be redone.
    private mutating func follow() throws(EtcdError) {
        let read = try client.range(agent.keys.state)
        agent.link.withLock { $0.callSucceeded(nowMilliseconds: Clock.monotonicMilliseconds()) }
        if let kv = read.kvs.first {
            consider(kv, whole: true)
        } else {
            try seed()
            return   // read again: the seed (ours or another's) is now the store's state
        }
        // A revision is etcd's counter, far below Int64.max; an answer saying otherwise is
        // refused like any other bad answer (retried with backoff), never added to.
        guard read.revision >= 0, read.revision < Int64.max else {
            throw EtcdError(message: "etcd answered revision \(read.revision), which cannot be watched from")
        }
        let watch = try client.openWatch(agent.keys.state, startRevision: read.revision + 1)
        agent.link.withLock { $0.caughtUpWithStore() }
        backoff.reset()
        var behindSince: UInt64?
        while !agent.isStopped {
            // Detached meanwhile (the heartbeat saw 5 s without success): start over with a
            // whole read, so that "synced" again means "caught up".
            let link = agent.currentLink()
            if case .detached = link.phase {
                throw EtcdError(message: "detached: reconnecting")
            }
            // A watch on a member that froze (a hung host: its socket open, nothing sent)
            // says nothing, and nothing bounds that silence. The heartbeat reads the store
            // through whichever member answers: when it has seen a newer generation for
            // longer than a watch event takes, and nothing was refused, the watch is stale.
            let now = Clock.monotonicMilliseconds()
            let store = agent.view.withLock { $0.storeGeneration } ?? 0
            if store > (agent.service?.table.generation ?? store), link.rejection == nil, link.alarm == nil {
                if let since = behindSince, now &- since > Self.staleWatchMilliseconds {
                    throw EtcdError(message: "the watch said nothing of generation \(store) for \(Self.staleWatchMilliseconds / 1000) s: reading the state whole from the next member")
                }
                if behindSince == nil { behindSince = now }
            } else {
                behindSince = nil
            }
            guard let line = try watch.readLine(deadline: Clock.monotonicMilliseconds() + 500) else { continue }
            guard let parsed = EtcdWatchLine.parse(line) else { continue }
            switch parsed {
            case .created:
                continue
            case .events(_, let kvs):
                agent.link.withLock { $0.callSucceeded(nowMilliseconds: Clock.monotonicMilliseconds()) }
                for kv in kvs { consider(kv, whole: false) }
            case .progress:
                agent.link.withLock { $0.callSucceeded(nowMilliseconds: Clock.monotonicMilliseconds()) }
            case .compacted(let revision):
                agent.errorLog.info("fleet: the watch start was compacted (revision \(revision)); reading the state whole")
                return
            case .canceled(let reason):
                throw EtcdError(message: "watch ended: \(reason)")
            }
        }
    }

    /// An empty store: this instance's state becomes the fleet's first, unless another
    /// instance got there first (the transaction requires the key to be absent).
    private func seed() throws(EtcdError) {
        guard let service = agent.service else { return }
        let table = service.table
        let document = FleetDocument(generation: table.generation, state: table.state, instance: agent.instanceName,
                                     user: "switchyard", uid: geteuid(), command: "fleet seeded from \(agent.instanceName)",
                                     reason: nil, changes: [], time: FleetAgent.wallText(),
                                     committedAtMilliseconds: FleetAgent.wallMilliseconds())
        let result = try client.txn([.modRevision(agent.keys.state, 0)],
                                    puts: [(agent.keys.state, document.encoded()), (agent.keys.history(table.generation), document.encoded())],
                                    readOnFailure: agent.keys.state)
        if result.succeeded { agent.errorLog.info("fleet \(agent.config.name): seeded the store with generation \(table.generation)") }
    }

    /// Decides about one version of the state key, and applies it when it is newer.
    private func consider(_ kv: EtcdKeyValue, whole: Bool) {
        // The watch and the reads name the state key only; an answer about another key (a
        // proxy or store misbehaving) is not the fleet's state.
        guard kv.key == agent.keys.state, let service = agent.service else { return }
        let document: FleetDocument
        do {
            document = try FleetDocument.decode(kv.value)
        } catch {
            reject(error.message, revision: kv.modRevision)
            return
        }
        switch FleetApplyDecision.decide(storeGeneration: document.generation, localGeneration: service.table.generation, whole: whole) {
        case .ignore:
            let local = service.table.generation
            // On the watch, a lower generation is not a late event: the watch starts after
            // the whole read, so every event is newer than what was applied. An older
            // generation written later is the store going back (a restore, an old state
            // put back by hand): an alarm, as a whole read that finds it behind raises.
            if !whole, document.generation < local, kv.modRevision > agent.applied.withLock({ $0.revision }) {
                let alarm = "the fleet store went back to generation \(document.generation) (revision \(kv.modRevision)), behind this instance's \(local) (restored from a backup, or an old state put back?); not applied, a person must decide"
                agent.link.withLock { $0.storeBehind(alarm) }
                agent.errorLog.error("fleet \(agent.config.name): \(alarm)")
                agent.writeOwnRecord(using: client)
                return
            }
            // Only a store at or past this instance's generation ends an alarm.
            if document.generation >= local { agent.link.withLock { $0.storeBehind(nil) } }
            if document.generation == service.table.generation {
                agent.noteApplied(document.generation, revision: kv.modRevision)
                agent.link.withLock { $0.rejected(nil) }
            }
        case .storeBehind(let alarm):
            agent.link.withLock { $0.storeBehind(alarm) }
            agent.errorLog.error("fleet \(agent.config.name): \(alarm)")
        case .apply:
            do {
                if try service.applyFleetDocument(document) {
                    agent.noteApplied(document.generation, revision: kv.modRevision)
                    agent.errorLog.info("fleet \(agent.config.name): applied generation \(document.generation) (\(document.command), via \(document.instance))")
                }
                agent.link.withLock { $0.rejected(nil); $0.storeBehind(nil) }
                agent.writeOwnRecord(using: client)
            } catch {
                reject(error.message, revision: kv.modRevision)
            }
        }
    }

    private func reject(_ reason: String, revision: Int64) {
        // The reason may quote the store's document (a route name, a decoding path):
        // screened before it reaches the error log and `status`.
        let reason = AdminText.screened(reason)
        agent.link.withLock { $0.rejected(reason) }
        agent.errorLog.error("fleet \(agent.config.name): rejected the store's state at revision \(revision): \(reason); keeping generation \(agent.service?.table.generation ?? 0)")
        agent.writeOwnRecord(using: client)
    }
}
