import Foundation
import Glibc
import SwitchyardProxy

/// The inventory and the decision log across restarts: `inventory.json` and
/// `decisions.bin` beside the state file, replaced atomically (`DurableFile.replace`) every
/// minute and at shutdown, read once at start. What a previous run saved is the baseline;
/// the live tables are added to it on every read, so nothing is counted twice.
///
/// Records are stored with the user's pseudonym (`DecisionPseudonym`, keyed by
/// `decisions.key` beside them), never the workers' plain sticky-key hash; a version-1 file
/// (plain hashes) is converted as it is read.
///
/// A file that cannot be read back (damaged, truncated, from another format) never stops
/// the proxy: it is renamed aside (`NAME.damaged-UNIXTIME`), the error log says so, and the
/// run starts with an empty inventory or log.
final class InventoryStore: @unchecked Sendable {
    let inventoryPath: String
    let decisionsPath: String
    /// At most this many decisions are kept across restarts (newest first).
    static let decisionLimit = 1_000_000
    static let magic: [UInt8] = Array("SYDL".utf8)
    /// 2: pseudonyms (since 2026-12-04); 1: the workers' plain hashes, converted on load.
    static let version: UInt32 = 2

    private let lock = NSLock()
    private(set) var baseline = InventorySnapshot()
    private(set) var baselineDecisions: [DecisionRecord] = []
    private var stopped = false
    let pseudonym: DecisionPseudonym

    init(statePath: String, errorLog: ErrorLog) {
        let parent = (statePath as NSString).deletingLastPathComponent
        let directory = parent.isEmpty ? "." : parent
        inventoryPath = directory + "/inventory.json"
        decisionsPath = directory + "/decisions.bin"
        pseudonym = DecisionPseudonym(key: InstallationKey.load(directory + "/decisions.key", what: "decision log key", errorLog: errorLog))
        (baseline, baselineDecisions) = Self.loadBaseline(inventoryPath, decisionsPath, pseudonym, errorLog: errorLog)
    }

    /// Both files as a baseline; one that cannot be read back is set aside (`SideFile`) and
    /// counts as empty.
    private static func loadBaseline(_ inventoryPath: String, _ decisionsPath: String, _ pseudonym: DecisionPseudonym,
                                     errorLog: ErrorLog) -> (InventorySnapshot, [DecisionRecord]) {
        let inventory = SideFile.load(inventoryPath, what: "inventory file", empty: "an empty one", errorLog: errorLog) { bytes in
            try JSONDecoder().decode(InventorySnapshot.self, from: Data(bytes))
        } ?? InventorySnapshot()
        let decisions = SideFile.load(decisionsPath, what: "decision log", empty: "an empty one", errorLog: errorLog) { bytes in
            try Self.decodeDecisions(bytes, pseudonym)
        } ?? []
        return (inventory, decisions)
    }

    /// Reads both files again as the baseline: for an upgrade's new process once the old one
    /// has handed over, which saved its counts at that moment (the files this process read
    /// at start were the old one's last periodic save, up to a minute behind).
    func reloadBaseline(errorLog: ErrorLog) {
        let loaded = Self.loadBaseline(inventoryPath, decisionsPath, pseudonym, errorLog: errorLog)
        lock.withLock { (baseline, baselineDecisions) = loaded }
    }

    static func decodeDecisions(_ bytes: [UInt8], _ pseudonym: DecisionPseudonym) throws -> [DecisionRecord] {
        let stride = MemoryLayout<DecisionRecord>.stride
        guard bytes.count >= 16, Array(bytes[0..<4]) == magic else { throw SideFile.Damaged(description: "not a decision log") }
        return try bytes.withUnsafeBytes { raw throws -> [DecisionRecord] in
            let version = raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
            let size = raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
            let count = Int(raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
            guard version == Self.version || version == 1, Int(size) == stride else {
                throw SideFile.Damaged(description: "version \(version), record size \(size)")
            }
            guard count <= decisionLimit, bytes.count == 16 + count * stride else {
                throw SideFile.Damaged(description: "\(bytes.count) bytes for \(count) records")
            }
            var records = [DecisionRecord](repeating: DecisionRecord(time: 0, route: 0, keys: .init(), network: 0, clientKind: 0, method: 0, backend: 0), count: count)
            records.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[16...])) }
            if version == 1 { pseudonym.apply(&records) }
            return records
        }
    }

    static func encodeDecisions(_ records: [DecisionRecord]) -> [UInt8] {
        var bytes = magic
        withUnsafeBytes(of: version.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: UInt32(MemoryLayout<DecisionRecord>.stride).littleEndian) { bytes += $0 }
        withUnsafeBytes(of: UInt32(records.count).littleEndian) { bytes += $0 }
        records.withUnsafeBytes { bytes += $0 }
        return bytes
    }

    /// The saved inventory plus `live`. The baseline is taken under the lock: an upgrade's
    /// new process replaces it (`reloadBaseline`) while the admin socket and the metrics
    /// listener may be reading it.
    func inventory(live: InventorySnapshot) -> InventorySnapshot { live.adding(lock.withLock { baseline }) }

    /// The saved decisions plus `live` (the workers' records, pseudonymized here), the
    /// newest `decisionLimit`.
    func decisions(live: [DecisionRecord]) -> [DecisionRecord] {
        merged(live: live, saved: lock.withLock { baselineDecisions })
    }

    private func merged(live: [DecisionRecord], saved: [DecisionRecord]) -> [DecisionRecord] {
        var live = live
        pseudonym.apply(&live)
        guard !saved.isEmpty else { return live }
        var all = saved
        all.append(contentsOf: live)
        if all.count > Self.decisionLimit {
            all.sort { $0.time < $1.time }
            all.removeFirst(all.count - Self.decisionLimit)
        }
        return all
    }

    /// Writes both files (atomically, each on its own). `final`: the shutdown's save; no
    /// periodic save runs after it (the workers are about to stop).
    func save(_ dataPlane: DataPlane, final: Bool = false) throws(AdminError) {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return }
        if final { stopped = true }
        // Under the lock already: the baseline read directly.
        let inventory = dataPlane.inventorySnapshot().adding(baseline)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(inventory) else { throw AdminError("inventory: cannot encode") }
        try DurableFile.replace(inventoryPath, with: Array(data))
        try DurableFile.replace(decisionsPath, with: Self.encodeDecisions(merged(live: dataPlane.decisionRecords(), saved: baselineDecisions)))
    }

    /// No save from now on (an upgrade's old process, once handed over).
    func stop() { lock.withLock { stopped = true } }

    /// Saves every `seconds` on a thread of its own until `stop()`.
    func startSaving(_ dataPlane: DataPlane, every seconds: Double, errorLog: ErrorLog) {
        Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: seconds)
                lock.lock()
                let done = stopped
                lock.unlock()
                if done { return }
                do throws(AdminError) { try save(dataPlane) } catch { errorLog.error("saving the inventory: \(error.message)") }
            }
        }.start()
    }
}
