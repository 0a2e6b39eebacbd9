import Foundation
import Glibc
import SwitchyardCompare
import SwitchyardProxy
import SwitchyardRouting

/// The mirror comparison on the admin side: the aggregator behind its own lock (samples
/// come from the guard evaluator's once-a-second tick, reports from the admin socket and
/// the metrics listener), and `compare.json` beside the state file — replaced atomically
/// (`DurableFile.replace`) every minute and at shutdown, read once at start. The file holds
/// counts, keys and hashes only (see `CompareBook`), never a body or a query string.
///
/// A file that cannot be read back never stops the proxy: it is renamed aside
/// (`compare.json.damaged-UNIXTIME`), one line goes to the error log, the run starts empty.
final class CompareStore: @unchecked Sendable {
    let path: String
    private let lock = NSLock()
    private var aggregator: CompareAggregator
    private var stopped = false
    /// Something was counted or reset since the file was last written (a proxy that
    /// mirrors nothing never writes the file).
    private var dirty = false

    init(statePath: String, errorLog: ErrorLog) {
        let directory = (statePath as NSString).deletingLastPathComponent
        path = (directory.isEmpty ? "." : directory) + "/compare.json"
        aggregator = CompareAggregator(book: Self.load(path, errorLog: errorLog) ?? CompareBook())
        aggregator.exampleKey = InstallationKey.load((directory.isEmpty ? "." : directory) + "/compare.key", what: "compare key", errorLog: errorLog)
    }

    private static func load(_ path: String, errorLog: ErrorLog) -> CompareBook? {
        SideFile.load(path, what: "compare file", empty: "an empty comparison", errorLog: errorLog) { bytes in
            let book = try JSONDecoder().decode(CompareBook.self, from: Data(bytes))
            guard book.version == CompareBook.version else { throw SideFile.Damaged(description: "version \(book.version)") }
            if let problem = book.problem(now: Date()) { throw SideFile.Damaged(description: problem) }
            return book
        }
    }

    /// Reads the file again: for an upgrade's new process once the old one has handed over,
    /// which saved its counts at that moment. What this process counted before then (the
    /// seconds of the hand-over) is dropped for the old process's fuller book.
    func reload(errorLog: ErrorLog) {
        guard let book = Self.load(path, errorLog: errorLog) else { return }
        lock.withLock {
            let key = aggregator.exampleKey
            aggregator = CompareAggregator(book: book)
            aggregator.exampleKey = key
        }
    }

    /// Compares `samples` (outside the lock: the slow part) and counts them (under it).
    func ingest(_ samples: [MirrorSample], now: Date, rules: (String) -> CompareRules?) {
        guard !samples.isEmpty else { return }
        let outcomes = CompareAggregator.compare(samples, rules: rules)
        lock.withLock {
            aggregator.record(samples, outcomes: outcomes, now: now, rules: rules)
            dirty = true
        }
    }

    var book: CompareBook { lock.withLock { aggregator.book } }

    /// Forgets `route` (nil: all) and writes the file at once, so a restart does not bring
    /// the counts back. Nothing changes if the file cannot be written.
    func reset(route: String?) throws(AdminError) {
        lock.lock()
        defer { lock.unlock() }
        var next = aggregator
        next.reset(route: route)
        try write(next.book)
        aggregator = next
        dirty = false
    }

    /// No save from now on (an upgrade's old process, once handed over).
    func stop() { lock.withLock { stopped = true } }

    /// Writes the file if anything changed; `final`: the shutdown's save, after which no
    /// periodic save runs.
    func save(final: Bool = false) throws(AdminError) {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return }
        if final { stopped = true }
        guard dirty else { return }
        try write(aggregator.book)
        dirty = false
    }

    private func write(_ book: CompareBook) throws(AdminError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(book) else { throw AdminError("compare: cannot encode the report") }
        try DurableFile.replace(path, with: Array(data))
    }

    /// Saves every `seconds` on a thread of its own until the final save.
    func startSaving(every seconds: Double, errorLog: ErrorLog) {
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: seconds)
                if lock.withLock({ stopped }) { return }
                do throws(AdminError) { try save() } catch { errorLog.error("saving the comparison: \(error.message)") }
            }
        }
        thread.name = "switchyard-compare-save"
        thread.start()
    }
}
