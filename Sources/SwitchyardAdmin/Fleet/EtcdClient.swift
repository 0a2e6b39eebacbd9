import Foundation
import SwitchyardRouting
import SwitchyardSystem

/// One key as etcd holds it.
struct EtcdKeyValue {
    var key: String
    var value: Data
    var modRevision: Int64
    var createRevision: Int64
    var lease: Int64
}

/// A small client for etcd v3's JSON gateway (Debian's etcd 3.4: `/v3/kv/range`, `/v3/kv/txn`,
/// `/v3/watch`, `/v3/lease/*`, `/v3/auth/authenticate`). Keys and values travel base64,
/// 64-bit numbers as strings. One connection per unary call: the fleet makes about two calls
/// a second, and a fresh connection never carries a half-read answer from a timed-out call.
/// Used from one thread at a time (each fleet thread has its own client).
final class EtcdClient {
    let endpoints: [FleetEndpoint]
    private(set) var current = 0
    private let credentials: (user: String, password: String)?
    private var token: String?
    let timeoutMilliseconds: Int

    init(endpoints: [FleetEndpoint], credentials: (user: String, password: String)?, timeoutMilliseconds: Int = 1000) {
        precondition(!endpoints.isEmpty, "a fleet has at least one endpoint (the parser checks)")
        self.endpoints = endpoints
        self.credentials = credentials
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    var endpoint: FleetEndpoint { endpoints[current] }

    /// The next endpoint, after a failure.
    func rotate() { current = (current + 1) % endpoints.count }

    // MARK: calls

    /// POSTs `body` to `path` and returns the decoded JSON object. A 401 re-authenticates
    /// once and repeats the call (the token expired); a second 401 is an error.
    func call(_ path: String, _ body: [String: Any]) throws(EtcdError) -> [String: Any] {
        if credentials != nil && token == nil { try authenticate() }
        do {
            return try unary(path, body)
        } catch let error where error.status == 401 && credentials != nil {
            token = nil
            try authenticate()
            return try unary(path, body)
        }
    }

    private func authenticate() throws(EtcdError) {
        guard let credentials else { return }
        token = nil
        let answer = try unary("/v3/auth/authenticate", ["name": credentials.user, "password": credentials.password])
        guard let token = answer["token"] as? String, !token.isEmpty else {
            throw EtcdError(message: "\(endpoint): authentication gave no token")
        }
        self.token = token
    }

    private func unary(_ path: String, _ body: [String: Any]) throws(EtcdError) -> [String: Any] {
        let deadline = Clock.monotonicMilliseconds() + UInt64(timeoutMilliseconds)
        let json: Data
        do { json = try JSONSerialization.data(withJSONObject: body) } catch {
            preconditionFailure("etcd request bodies are built from plain values: \(error)")
        }
        let connection = try EtcdConnection.open(endpoint, deadline: deadline)
        try connection.send(path: path, json: json, token: token, deadline: deadline)
        let status = try connection.readHead(deadline: deadline)
        let data = try connection.readBody(deadline: deadline)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw EtcdError(message: "\(endpoint): \(path): answer is not JSON (HTTP \(status))", status: status)
        }
        // A streamed call (keepalive) wraps its one answer in "result".
        let answer = (object["result"] as? [String: Any]) ?? object
        guard status == 200, object["error"] == nil else {
            let message = (object["error"] as? [String: Any])?["message"] ?? object["message"] ?? object["error"] ?? "HTTP \(status)"
            // A server error after the request reached a member ("request timed out",
            // "leader changed": gRPC Unavailable, 503) leaves a write's fate open: etcd may
            // still commit it. The caller must read back, never report it not applied.
            throw EtcdError(message: "\(endpoint): \(path): \(message)", status: status == 200 ? nil : status,
                            maybeApplied: status >= 500)
        }
        return answer
    }

    // MARK: kv

    /// A linearizable read of `key` (or every key under the prefix `key` when `prefix`).
    func range(_ key: String, prefix: Bool = false) throws(EtcdError) -> (revision: Int64, kvs: [EtcdKeyValue]) {
        var body: [String: Any] = ["key": Self.base64(key)]
        if prefix { body["range_end"] = Self.base64(Self.prefixEnd(key)) }
        let answer = try call("/v3/kv/range", body)
        return (Self.revision(answer), Self.keyValues(answer["kvs"]))
    }

    enum Compare {
        /// The key's mod_revision equals (0: the key does not exist).
        case modRevision(String, Int64)
    }

    /// One transaction: every put (and delete) if all compares hold, else a read of
    /// `readOnFailure`. Returns whether it succeeded, the store revision after it, and on
    /// failure what `readOnFailure` holds.
    func txn(_ compares: [Compare], puts: [(String, Data)], deletes: [String] = [], readOnFailure: String)
        throws(EtcdError) -> (succeeded: Bool, revision: Int64, current: [EtcdKeyValue]) {
        let compare: [[String: Any]] = compares.map {
            switch $0 {
            case .modRevision(let key, let revision):
                return ["key": Self.base64(key), "target": "MOD", "result": "EQUAL", "mod_revision": String(revision)]
            }
        }
        var success: [[String: Any]] = puts.map { ["request_put": ["key": Self.base64($0.0), "value": $0.1.base64EncodedString()]] }
        success += deletes.map { ["request_delete_range": ["key": Self.base64($0)]] }
        let failure: [[String: Any]] = [["request_range": ["key": Self.base64(readOnFailure)]]]
        let answer = try call("/v3/kv/txn", ["compare": compare, "success": success, "failure": failure])
        let succeeded = (answer["succeeded"] as? Bool) ?? false
        var current: [EtcdKeyValue] = []
        if !succeeded, let responses = answer["responses"] as? [[String: Any]],
           let range = responses.first?["response_range"] as? [String: Any] {
            current = Self.keyValues(range["kvs"])
        }
        return (succeeded, Self.revision(answer), current)
    }

    func put(_ key: String, _ value: Data, lease: Int64? = nil) throws(EtcdError) {
        var body: [String: Any] = ["key": Self.base64(key), "value": value.base64EncodedString()]
        if let lease { body["lease"] = String(lease) }
        _ = try call("/v3/kv/put", body)
    }

    // MARK: leases

    func grantLease(ttlSeconds: Int) throws(EtcdError) -> Int64 {
        let answer = try call("/v3/lease/grant", ["TTL": String(ttlSeconds)])
        guard let id = Self.int64(answer["ID"]), id != 0 else { throw EtcdError(message: "\(endpoint): lease grant gave no ID") }
        return id
    }

    /// Renews the lease; false when it expired (etcd answers TTL 0 or none).
    func keepAlive(_ lease: Int64) throws(EtcdError) -> Bool {
        let answer = try call("/v3/lease/keepalive", ["ID": String(lease)])
        return (Self.int64(answer["TTL"]) ?? 0) > 0
    }

    // MARK: watch

    /// Opens a watch of `key` from `startRevision`, with progress notifications, and
    /// `hasleader` so that a member cut off from its leader ends the watch instead of
    /// keeping it open in silence. Read its lines with `EtcdWatchLine.parse`.
    func openWatch(_ key: String, startRevision: Int64) throws(EtcdError) -> EtcdConnection {
        // A fresh token for every watch: one that expires while the stream is open does not
        // end it, and a stale one would be refused inside the stream, not in its head.
        if credentials != nil { try authenticate() }
        let request: [String: Any] = ["create_request": ["key": Self.base64(key), "start_revision": String(startRevision),
                                                         "progress_notify": true]]
        let json = (try? JSONSerialization.data(withJSONObject: request)) ?? Data()
        let deadline = Clock.monotonicMilliseconds() + UInt64(timeoutMilliseconds)
        let connection = try EtcdConnection.open(endpoint, deadline: deadline)
        try connection.send(path: "/v3/watch", json: json, token: token, headers: ["Grpc-Metadata-hasleader: true"], deadline: deadline)
        let status = try connection.readHead(deadline: deadline)
        if status == 401 { token = nil }
        guard status == 200 else { throw EtcdError(message: "\(endpoint): watch: HTTP \(status)", status: status) }
        return connection
    }

    // MARK: encoding

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// The end of the range of keys starting with `prefix` (its last byte plus one).
    static func prefixEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        bytes[bytes.count - 1] += 1
        return String(decoding: bytes, as: UTF8.self)
    }

    static func int64(_ value: Any?) -> Int64? {
        if let text = value as? String { return Int64(text) }
        if let number = value as? NSNumber { return number.int64Value }
        return nil
    }

    static func revision(_ answer: [String: Any]) -> Int64 {
        int64((answer["header"] as? [String: Any])?["revision"]) ?? 0
    }

    static func keyValues(_ value: Any?) -> [EtcdKeyValue] {
        guard let list = value as? [[String: Any]] else { return [] }
        return list.compactMap { kv in
            guard let keyText = kv["key"] as? String, let key = Data(base64Encoded: keyText) else { return nil }
            return EtcdKeyValue(key: String(decoding: key, as: UTF8.self),
                                value: (kv["value"] as? String).flatMap { Data(base64Encoded: $0) } ?? Data(),
                                modRevision: int64(kv["mod_revision"]) ?? 0, createRevision: int64(kv["create_revision"]) ?? 0,
                                lease: int64(kv["lease"]) ?? 0)
        }
    }
}

/// One line of a watch stream, decoded.
enum EtcdWatchLine {
    case created
    /// Puts of the watched key (deletes carry no value and are ignored by the caller).
    case events(revision: Int64, [EtcdKeyValue])
    /// Nothing changed up to `revision` (progress notification).
    case progress(revision: Int64)
    /// The start revision was compacted away: read the key whole and watch again.
    case compacted(revision: Int64)
    case canceled(reason: String)

    static func parse(_ line: Data) -> EtcdWatchLine? {
        guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] else { return nil }
        if let error = object["error"] as? [String: Any] {
            return .canceled(reason: AdminText.screened((error["message"] as? String) ?? "watch error"))
        }
        guard let result = object["result"] as? [String: Any] else { return nil }
        let revision = EtcdClient.revision(result)
        if let compacted = EtcdClient.int64(result["compact_revision"]), compacted > 0 { return .compacted(revision: compacted) }
        if (result["canceled"] as? Bool) == true { return .canceled(reason: AdminText.screened((result["cancel_reason"] as? String) ?? "canceled")) }
        if (result["created"] as? Bool) == true { return .created }
        if let events = result["events"] as? [[String: Any]] {
            let puts = events.filter { ($0["type"] as? String) != "DELETE" }.map { $0["kv"] as Any }
            return .events(revision: revision, EtcdClient.keyValues(puts))
        }
        return .progress(revision: revision)
    }
}
