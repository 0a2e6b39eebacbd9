import Foundation
import SwitchyardSystem
import SwitchyardTLS

/// The audit log's hash chain. Each line is one JSON object that begins with three fields
/// written in a fixed order, then the record itself (keys sorted):
///
///     {"hash":"H","prev":"P","seq":N,"command":…,…}
///
/// `H` is the SHA-256 of the line without its `"hash":"H",` part (so the hash covers the
/// exact bytes on disk, not a re-encoding), `P` is the previous line's `H`, and `seq`
/// counts from 1. The first record carries `"instance"`, a random id, and its `P` is the
/// SHA-256 of `switchyard audit anchor <instance>`. Altering a byte breaks that line's `H`;
/// rewriting a line and its `H` breaks the next line's `P`; a removed or reordered line
/// breaks `seq`. Dropping the last lines is only visible against a copy of the last hash
/// (the error log names the instance when a chain starts).
public enum AuditChain {
    /// `{"hash":"` + 64 hex + `","prev":"` + 64 hex + `","seq":`
    static let hashPrefix = Array(#"{"hash":""#.utf8)
    static let prevPrefix = Array(#"","prev":""#.utf8)
    static let seqPrefix = Array(#"","seq":"#.utf8)

    /// The `prev` of a chain's first record.
    public static func anchor(instance: String) -> String {
        SHA256.hex("switchyard audit anchor \(instance)")
    }

    /// A new random instance id (32 hex digits).
    static func newInstance() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(16) }.joined()
    }

    /// The line for `body` (a JSON object, keys sorted) after `prev` with number `seq`, and
    /// its hash.
    static func line(body: String, prev: String, seq: UInt64) -> (line: String, hash: String) {
        precondition(body.hasPrefix("{\"") && body.hasSuffix("}"), "an audit body is a non-empty JSON object")
        let hashed = "{\"prev\":\"\(prev)\",\"seq\":\(seq)," + body.dropFirst()
        let hash = SHA256.hex(hashed)
        return ("{\"hash\":\"\(hash)\"," + hashed.dropFirst(), hash)
    }

    /// What a line says about its place in the chain, read from its fixed prefix; nil when
    /// the line does not have one.
    struct Link: Equatable {
        var hash: String
        var prev: String
        var seq: UInt64
        /// The hash recomputed from the line's bytes.
        var computed: String
    }

    static func link(of line: Substring) -> Link? {
        let bytes = Array(line.utf8)
        var at = 0
        func take(_ literal: [UInt8]) -> Bool {
            guard bytes.count >= at + literal.count, Array(bytes[at..<at + literal.count]) == literal else { return false }
            at += literal.count
            return true
        }
        func hex() -> String? {
            guard bytes.count >= at + 64 else { return nil }
            let digits = bytes[at..<at + 64]
            guard digits.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
            at += 64
            return String(decoding: digits, as: UTF8.self)
        }
        guard take(hashPrefix), let hash = hex() else { return nil }
        let afterHash = at
        guard take(prevPrefix), let prev = hex(), take(seqPrefix) else { return nil }
        let digitsStart = at
        while at < bytes.count, (0x30...0x39).contains(bytes[at]) { at += 1 }
        guard at > digitsStart, at - digitsStart <= 19, at < bytes.count, bytes[at] == UInt8(ascii: ","),
              let seq = UInt64(String(decoding: bytes[digitsStart..<at], as: UTF8.self)) else { return nil }
        // The hashed text: `{` + what follows `"hash":"H",`.
        let computed = SHA256.hex([UInt8(ascii: "{")] + bytes[(afterHash + 2)...])
        return Link(hash: hash, prev: prev, seq: seq, computed: computed)
    }

    /// The end of the chain a writer continues: the last line's hash and number.
    struct Head {
        var hash: String
        var seq: UInt64
    }

    /// The head of the chain in `text` (the file's content): nil for an empty file, or one
    /// whose last line is not a chained record (an older log, or a line torn by a crash) —
    /// the writer then starts a new chain, and `verify` shows where.
    static func head(of text: String) -> Head? {
        guard let last = text.split(separator: "\n").last, let link = link(of: last) else { return nil }
        return Head(hash: link.hash, seq: link.seq)
    }
}

/// Where the writer is in the chain, shared by every thread that appends (accepted changes
/// under the commit lock, refusals outside it).
final class AuditChainState: Sendable {
    struct Known {
        /// Whether the file's last line has been read.
        var loaded = false
        /// nil: the next record starts a new chain.
        var head: AuditChain.Head?
    }
    let head = Locked(Known())
}

private extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
