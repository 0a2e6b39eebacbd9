import Foundation

/// Checks an audit log's hash chain (`AuditChain`) and names the first record that was
/// altered, removed or reordered. The file is outside input: nothing in it is trusted, and
/// a bad line is a finding, not an error.
public enum AuditVerifier {
    /// What `verify` found.
    public enum Verdict: Equatable, Sendable {
        /// Every record links to the one before, from the anchor on.
        case intact(records: Int, instance: String, lastHash: String)
        /// `line` (1-based) is where the chain first breaks; `reason` says how, and names the
        /// record at fault (which can be the line before).
        case broken(line: Int, reason: String)
        /// Nothing to verify.
        case empty
    }

    /// Reads `path` (a symlink or a non-regular file is refused) and verifies it.
    public static func verify(path: String) throws(AdminError) -> Verdict {
        guard let bytes = try DurableFile.read(path, what: "audit log") else {
            throw AdminError("audit log \(path): no such file")
        }
        return verify(text: String(decoding: bytes, as: UTF8.self))
    }

    /// The file's text and its verdict (export reports both).
    public static func read(path: String) throws(AdminError) -> (String, Verdict) {
        guard let bytes = try DurableFile.read(path, what: "audit log") else {
            throw AdminError("audit log \(path): no such file")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return (text, verify(text: text))
    }

    public static func verify(text: String) -> Verdict {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        // The file ends with a newline: the empty piece after it is no record.
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard !lines.isEmpty else { return .empty }
        let links: [AuditChain.Link?] = lines.map { AuditChain.link(of: $0) }
        var instance = ""
        var previous: AuditChain.Link?
        for (index, line) in lines.enumerated() {
            let number = index + 1
            guard let link = links[index] else {
                return .broken(line: number, reason: "record at line \(number) was altered: it is not a chained audit record")
            }
            guard link.computed == link.hash else {
                return .broken(line: number, reason: "record \(link.seq) (line \(number)) was altered: its content does not match its hash")
            }
            guard let last = previous else {
                // The first record: seq 1, anchored in the instance it names.
                guard link.seq == 1 else {
                    return .broken(line: number, reason: "records 1…\(link.seq &- 1) were removed: the log starts at record \(link.seq)")
                }
                guard let named = Self.instance(of: line), link.prev == AuditChain.anchor(instance: named) else {
                    return .broken(line: number, reason: "record 1 (line 1) was altered: it is not anchored in the instance it names")
                }
                instance = named
                previous = link
                continue
            }
            let expected = last.seq &+ 1
            if link.seq != expected {
                // A record that belongs here and comes later means the lines were swapped.
                if links[(index + 1)...].contains(where: { $0?.seq == expected }) {
                    return .broken(line: number, reason: "record \(link.seq) (line \(number)) is out of order: record \(expected) should come here, and comes later")
                }
                if link.seq > expected {
                    let missing = link.seq - 1 == expected ? "record \(expected) was" : "records \(expected)…\(link.seq - 1) were"
                    return .broken(line: number, reason: "\(missing) removed before line \(number) (record \(link.seq))")
                }
                return .broken(line: number, reason: "record \(link.seq) (line \(number)) is out of order or repeated: record \(expected) was expected")
            }
            guard link.prev == last.hash else {
                // This line is intact and in sequence, so the one before it is not the line
                // that was there when this one was written.
                return .broken(line: number - 1, reason: "record \(last.seq) (line \(number - 1)) was altered or replaced: record \(link.seq) recorded another hash for it")
            }
            previous = link
        }
        return .intact(records: lines.count, instance: instance, lastHash: previous?.hash ?? "")
    }

    /// The `instance` field of a chain's first record.
    private static func instance(of line: Substring) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
        return object["instance"] as? String
    }
}
