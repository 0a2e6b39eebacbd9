import Foundation

/// `fleet forget INSTANCE`: a retired instance leaves the fleet's member list.
///
/// `members/<instance>` is written by each instance and never removed by one (it has no
/// lease: an instance down for maintenance must still be waited for). An instance renamed
/// or retired therefore stayed listed as `gone`, and every fleet `hold` answered "not quiet"
/// naming it, until someone found the key and ran `etcdctl del` by hand at 2 a.m.
extension FleetAgent {
    /// Removes `name` from `members/`, only while it has no live record (`instances/` is
    /// under a 5 s lease: a running instance, even one that cannot reach the store for a
    /// moment, is refused). One transaction guarded by both keys, so an instance that
    /// comes back between the read and the delete keeps its membership. The line to answer.
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
            throw AdminError("\(name) is running (its record is live\(status.map { ", \(AdminText.screened($0))" } ?? "")): stop it first; a member is forgotten only once its record has expired (5 s)")
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

    private func forgotten(_ name: String) -> String {
        "fleet \(config.name): \(name) forgotten (no longer a member: a fleet hold stops waiting for it; should it run again, it joins again)"
    }
}
