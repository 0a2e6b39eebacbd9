import SwitchyardCompare
import SwitchyardProxy
import SwitchyardRouting

/// What the decision log keeps of a user once records leave the workers (for `simulate` and
/// for `decisions.bin`): the user's bucket — the sticky key's hash modulo 10,000, all a
/// replay places by — and above it a keyed hash of that key (SipHash-2-4 under the
/// installation's `decisions.key`), all that groups one user's records. The workers' plain
/// FNV-1a hash never leaves memory: stored, it gave back the client's address (2^32 tries
/// for IPv4), a short header value (a record number) or a session cookie to anyone who
/// hashed candidates.
struct DecisionPseudonym {
    let key: (UInt64, UInt64)

    /// The stored form of a worker's `keyHash`; 0 (no sticky key) stays 0.
    func apply(_ keyHash: UInt64) -> UInt64 {
        guard keyHash != 0 else { return 0 }
        let n = ReplayKeys.bucketCount
        // Below UInt64.max / n, so that `high * n + bucket` cannot overflow.
        let high = SipHash.hash(key: key, word: keyHash) % (UInt64.max / n)
        let pseudonym = high * n + keyHash % n
        // Never 0, the "no key" value: n is bucket 0 too.
        return pseudonym == 0 ? n : pseudonym
    }

    func apply(_ records: inout [DecisionRecord]) {
        for i in records.indices { records[i].keyHash = apply(records[i].keyHash) }
    }
}
