import Foundation
import SwitchyardSystem

/// `fleet forget INSTANCE`: a retired instance leaves the fleet's member list.
///
/// `members/<instance>` is written by each instance and never removed by one (it has no
/// lease: an instance down for maintenance must still be waited for). An instance renamed
/// or retired therefore stayed listed as `gone`, and every fleet `hold` answered "not quiet"
/// naming it, until someone found the key and ran `etcdctl del` by hand at 2 a.m.
extension FleetAgent {
    /// Removes `name` from `members/`, only while it has no live record (`instances/` is
    /// under a 5 s lease) and this instance has not seen one for 10 minutes: an instance
    /// cut off from the store also loses its record, and still serves. One transaction
    /// guarded by both keys, so an instance that comes back between the read and the
    /// delete keeps its membership (and one forgotten while it ran puts its key back at its
    /// next beat). The line to answer.
    func forget(member name: String) throws(AdminError) -> String {
        guard !name.isEmpty, !name.contains("/"), name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw AdminError("\(AdminText.screened(name)) is not an instance name")
        }
        guard name != instanceName else {
            throw AdminError("\(name) is this instance: stop it and forget it from another one")
        }
        let memberKey = keys.member(name), recordKey = keys.instance(name)
        let (read, failures) = onAnyEndpoint { () throws(EtcdError) in
            (members: try commitClient.range(keys.members, prefix: true), record: try commitClient.range(recordKey))
        }
        guard let read else {
            throw AdminError("fleet \(config.name): the store cannot be read (\(failures.joined(separator: "; "))): nothing changed")
        }
        guard let member = read.members.kvs.first(where: { $0.key == memberKey }) else {
            let names = read.members.kvs.map { AdminText.screened(String($0.key.dropFirst(keys.members.count))) }.sorted()
            throw AdminError("fleet \(config.name) has no member \(name) (members: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
        }
        if let record = read.record.kvs.first {
            let status = (try? JSONSerialization.jsonObject(with: record.value) as? [String: Any])?["status"] as? String
            throw AdminError("\(name) is running (its record is live\(status.map { ", \(AdminText.screened($0))" } ?? "")): stop it first")
        }
        // No record is no proof: an instance cut off from the store loses it after 5 s and
        // goes on serving. Forgotten then, a hold would answer quiet while it still writes.
        // So it must have been gone a while, as far as this instance has watched.
        // Monotonic: a clock stepped back must not make a recent sighting look old.
        let now = Clock.monotonicMilliseconds()
        let wait = Self.forgetAfterMilliseconds
        let seen = lastSeen.withLock { $0[name] }
        if let seen, now - min(seen, now) < wait {
            throw AdminError("\(name) had a live record \((now - min(seen, now)) / 1000)s ago: one cut off from the store loses it after 5 s and still serves; forget it \(wait / 60_000) minutes after it stopped for good")
        }
        // Watching counts from the first read of the store, not from the start: an
        // instance that could not reach it saw nothing.
        let watched = watchingSince.withLock { $0 }.map { now - min($0, now) } ?? 0
        if seen == nil, watched < wait {
            throw AdminError("this instance has watched fleet \(config.name) for \(watched / 1000)s only: it cannot tell whether \(name) stopped or only lost the store; try again after \(wait / 60_000) minutes")
        }
        let result: (succeeded: Bool, revision: Int64, current: [EtcdKeyValue])
        do {
            result = try commitClient.txn([.modRevision(memberKey, member.modRevision), .modRevision(recordKey, 0)],
                                          puts: [], deletes: [memberKey], readOnFailure: recordKey)
        } catch {
            // Not retried on another endpoint: the delete may have committed. Read back.
            commitClient.rotate()
            let (after, _) = onAnyEndpoint { () throws(EtcdError) in try commitClient.range(memberKey) }
            guard let after, after.kvs.isEmpty else {
                throw AdminError("fleet \(config.name): the store did not answer (\(error.description)); \(name) may still be a member: see `status`")
            }
            return forgotten(name)
        }
        guard result.succeeded else {
            throw AdminError("\(name) changed meanwhile (\(result.current.isEmpty ? "its membership was rewritten" : "it came back")): nothing removed")
        }
        return forgotten(name)
    }

    /// How long an instance must have been gone before it may be forgotten: 10 minutes
    /// (tests shorten it with `SWITCHYARD_FORGET_AFTER_MS_FOR_TESTING`).
    static let forgetAfterMilliseconds: UInt64 =
        ProcessInfo.processInfo.environment["SWITCHYARD_FORGET_AFTER_MS_FOR_TESTING"].flatMap { UInt64($0) } ?? 600_000

    private func forgotten(_ name: String) -> String {
        "fleet \(config.name): \(name) forgotten (no longer a member: a fleet hold stops waiting for it; should it run again, it joins again)"
    }
}
