import Foundation
import Glibc
import SwitchyardSystem

/// The fleet's heartbeat thread: every half second it renews the lease, writes this
/// instance's record and reads the others' and the guards' latches; it is what notices that etcd is out of reach.
struct FleetHeartbeat {
    let agent: FleetAgent
    private let client: EtcdClient
    private var backoff = FleetBackoff()
    private var random = SystemRandomNumberGenerator()
    private var lastLogged: String?
    private var lastLatchError: String?
    static let intervalMilliseconds: UInt64 = 500
    static let leaseSeconds = 5

    init(agent: FleetAgent) {
        self.agent = agent
        client = EtcdClient(endpoints: agent.config.endpoints, credentials: agent.credentials)
    }

    mutating func run() {
        while !agent.isStopped {
            var wait = Self.intervalMilliseconds
            do {
                try beat()
                backoff.reset()
                lastLogged = nil
            } catch {
                agent.link.withLock {
                    $0.callFailed(nowMilliseconds: Clock.monotonicMilliseconds(), reason: error.description, wall: FleetAgent.wallText())
                }
                // Said once per kind of failure, not twice a second.
                if error.description != lastLogged {
                    agent.errorLog.warning("fleet \(agent.config.name): heartbeat: \(error)")
                    lastLogged = error.description
                }
                client.rotate()
                wait = backoff.next(random: random.next())
            }
            _ = agent.currentLink()   // says DETACHED in the error log when 5 s are over
            usleep(UInt32(wait * 1000))
        }
    }

    private mutating func beat() throws(EtcdError) {
        var lease = agent.lease.withLock { $0 }
        if let current = lease, try !client.keepAlive(current) { lease = nil }
        if lease == nil {
            let granted = try client.grantLease(ttlSeconds: Self.leaseSeconds)
            agent.lease.withLock { $0 = granted }
            try client.put(agent.keys.member(agent.instanceName), Data(agent.instanceName.utf8))
        }
        let record = agent.ownRecord(measuringHold: true)
        if let data = try? JSONEncoder().encode(record) {
            try client.put(agent.keys.instance(agent.instanceName), data, lease: agent.lease.withLock { $0 })
        }
        let instances = try client.range(agent.keys.instances, prefix: true)
        let members = try client.range(agent.keys.members, prefix: true)
        // Forgotten (`fleet forget`) while it ran after all: it joins again at once. Not
        // read again: this instance is live, so never among the `gone` below anyway.
        if !members.kvs.contains(where: { $0.key == agent.keys.member(agent.instanceName) }) {
            try client.put(agent.keys.member(agent.instanceName), Data(agent.instanceName.utf8))
        }
        let state = try client.range(agent.keys.state)
        // The guards' latches: the guard tick reads this view to adopt a trip made elsewhere
        // and to open a latch acknowledged elsewhere.
        // Not a reason to detach: an etcd role without read access to it keeps the fleet.
        do {
            agent.noteLatches(try agent.readLatches(using: client))
            lastLatchError = nil
        } catch {
            if error.description != lastLatchError {
                agent.errorLog.warning("fleet \(agent.config.name): reading the guards' latches: \(error)")
                lastLatchError = error.description
            }
        }
        agent.link.withLock { $0.callSucceeded(nowMilliseconds: Clock.monotonicMilliseconds()) }
        let records = instances.kvs.compactMap { try? JSONDecoder().decode(FleetInstanceRecord.self, from: $0.value).screened }
        let live = Set(records.map(\.name))
        let seenAt = Clock.monotonicMilliseconds()
        agent.lastSeen.withLock { for name in live { $0[name] = seenAt } }
        agent.watchingSince.withLock { $0 = $0 ?? seenAt }
        let gone = members.kvs.map { AdminText.screened(String($0.key.dropFirst(agent.keys.members.count))) }.filter { !live.contains($0) }
        let storeGeneration = state.kvs.first.flatMap { try? FleetDocument.decode($0.value) }?.generation
        agent.view.withLock {
            $0 = FleetView(instances: records.sorted { $0.name < $1.name }, gone: gone.sorted(), storeGeneration: storeGeneration,
                           readAtMilliseconds: FleetAgent.wallMilliseconds())
        }
    }
}
