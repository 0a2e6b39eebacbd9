/// Which parked writes one release step sends: the `count` that parked first across the
/// workers, skipping any whose client has an earlier write from the hold not answered yet.
/// No I/O: the workers list what they hold (`Listing`), the plan picks, and each worker
/// then takes what was picked for it.
///
/// "Sent in arrival order" alone let a clinician's two writes run at once: the autosave
/// that waited through the freeze and the newer one behind it could reach the database in
/// either order, and the older then overwrote the newer. A write whose key (`holdKey`:
/// route, client address, Cookie field — one browser's session) is that of an earlier
/// write the hold parked, still queued or running, now waits for that one's answer; other
/// clients' writes go past it meanwhile.
///
/// Only the hold's own writes make others wait, one at a time per key: they are as many as
/// parked, so the wait is bounded. Writes that joined the queue during the release do not
/// wait for each other (two writes sent at once never had an order), or one busy key
/// would keep the queue from ever emptying. A write without a Cookie field has no key
/// (0): behind one address, with nothing to tell users apart, everybody's writes would
/// queue behind each other.
struct ReleasePlan: Sendable {
    /// A parked write one worker could release: its place in that worker's queue (`id`,
    /// the worker's park sequence: what the worker takes it by), when it parked (ns,
    /// monotonic: the order across workers), whose it is (0: nobody's in particular), and
    /// whether the hold parked it (not a write that joined the release's queue).
    struct Entry: Sendable, Equatable {
        var id: UInt64
        var stamp: UInt64
        var key: UInt64
        var held: Bool
    }

    /// One worker's part: its releasable parked writes in queue order, as far as it took to
    /// find `count` it could send, and the keys of the hold's writes it sent that are still
    /// running. `complete`: it listed every releasable write it had. `upTo`: the last id
    /// the worker had given when it listed (a write with a later one parked since).
    struct Listing: Sendable, Equatable {
        var entries: [Entry] = []
        var running: [UInt64] = []
        var complete = true
        var upTo: UInt64 = 0
    }

    /// Per worker, the ids of the writes it sends now.
    private(set) var chosen: [Set<UInt64>]
    /// Keys whose writes must not be sent in this step: a write of the hold's with that key
    /// is running, chosen now, or still waiting.
    private(set) var blocked: Set<UInt64>
    /// Every listed write was chosen (none waits for an earlier one, none is past `count`)
    /// and every worker listed all it held: what parks after the listing may go too.
    private(set) var takesNewcomers: Bool

    init(_ listings: [Listing], count: Int) {
        blocked = Set(listings.flatMap(\.running))
        chosen = Array(repeating: [], count: listings.count)
        // A worker that stopped listing early holds writes older than what another worker
        // listed beyond its last one: the plan goes no further than that last one, or a
        // write it never saw (a client's older one among them) would be overtaken.
        let horizon = listings.filter { !$0.complete }.compactMap { $0.entries.last?.stamp }.min() ?? .max
        var next = Array(repeating: 0, count: listings.count)
        var picked = 0
        var listed = 0
        while picked < count {
            var first = -1
            for w in listings.indices where next[w] < listings[w].entries.count {
                if first < 0 || listings[w].entries[next[w]].stamp < listings[first].entries[next[first]].stamp { first = w }
            }
            guard first >= 0 else { break }
            let entry = listings[first].entries[next[first]]
            guard entry.stamp <= horizon else { break }
            next[first] += 1
            if entry.key != 0 && blocked.contains(entry.key) { continue }
            chosen[first].insert(entry.id)
            picked += 1
            if entry.held && entry.key != 0 { blocked.insert(entry.key) }
        }
        for listing in listings { listed += listing.entries.count }
        takesNewcomers = picked == listed && listings.allSatisfy(\.complete)
    }

    /// Whether a write that parked after the listing may go now (`takesNewcomers`).
    func mayTakeNewcomer(key: UInt64) -> Bool {
        key == 0 || !blocked.contains(key)
    }

    /// A worker's listing: walks `parked` (queue order) while `releasable` says so, until
    /// `count` writes it could send are listed (a write the hold parked earlier with the
    /// same key, listed or running, holds back the later ones).
    static func listing<C: Collection>(_ parked: C, running: [UInt64], count: Int, upTo: UInt64,
                                       entry: (C.Element) -> Entry,
                                       releasable: (C.Element) -> Bool) -> Listing {
        var listing = Listing(running: running, upTo: upTo)
        var blocked = Set(running)
        var free = 0
        for item in parked where releasable(item) {
            if free >= count {
                listing.complete = false
                break
            }
            let e = entry(item)
            listing.entries.append(e)
            if e.key == 0 || !blocked.contains(e.key) { free += 1 }
            if e.held && e.key != 0 { blocked.insert(e.key) }
        }
        return listing
    }
}
