import Glibc
import SwitchyardProxy

/// A 16-byte secret of this installation for a keyed hash (SipHash-2-4), kept in a file of
/// its own (0600) beside the state file: `compare.key` for the comparison's body hashes,
/// `decisions.key` for the decision log's user pseudonyms. Keyed, a stored hash of a
/// guessable value (a short body, a record number, an IPv4 address: 2^32 tries) cannot be
/// tested by hashing candidates without the key.
enum InstallationKey {
    /// Read from `path`, or made from the system's random source and written there on first
    /// use. When it cannot be kept, a key for this run only (what it keyed then does not
    /// match what the next run keys), said in the error log.
    static func load(_ path: String, what: String, errorLog: ErrorLog) -> (UInt64, UInt64) {
        if let bytes = try? DurableFile.read(path, what: what), bytes.count == 16 {
            return (word(bytes, 0), word(bytes, 8))
        }
        var generator = SystemRandomNumberGenerator()
        let key = (generator.next() as UInt64, generator.next() as UInt64)
        var bytes: [UInt8] = []
        for w in [key.0, key.1] { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: w >> (8 * UInt64(i)))) } }
        do throws(AdminError) { try DurableFile.replace(path, with: bytes, mode: 0o600) } catch {
            errorLog.error("\(what) \(path): \(error.message); this run uses a key of its own")
        }
        return key
    }

    private static func word(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
    }
}
