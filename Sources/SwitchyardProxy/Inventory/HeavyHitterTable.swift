import Glibc

/// A fixed-size table of the most frequent keys of one kind (callers, hosts, endpoints…),
/// counted per worker without allocating, locking or atomics.
///
/// Set-associative space-saving: a key's hash picks a set of `ways` slots; a key already
/// there is counted in place; a new key takes a free slot, or evicts the slot of its set
/// with the smallest count, whose requests move to `other`. So a key that keeps arriving
/// stays, a flood of one-off keys only churns the small slots, the memory never grows, and
/// for every table `other + Σ count` is exactly the requests recorded.
///
/// Memory: one block of `HeavyHitterTable.headerBytes + slots × slotBytes`, zeroed by
/// `calloc` (pages are only resident once written). The block is copied as is for a merge
/// (`copy(into:)`) and read back on the admin thread with `InventorySlotReader`.
///
/// Thread confinement: recorded on the worker's loop thread only.
final class HeavyHitterTable {
    static let ways = 8
    static let slotBytes = 256
    /// Words of a slot (UInt64), then the key text.
    enum Word {
        static let hash = 0          // 0: empty
        static let count = 1
        static let firstSeen = 2     // Unix seconds
        static let lastSeen = 3
        static let pinned = 4        // requests a cohort placed
        static let errors = 5        // answers ≥ 500
        static let network = 6       // InventoryNetwork.encoded, 0 when the key has none
        static let longest = 7       // longest lifetime, milliseconds (tunnels)
        static let textCount = 8
        static let all = 9   // words before the text
    }
    static let textOffset = Word.all * 8
    static let textCapacity = slotBytes - textOffset
    /// Header words: `other` (requests under keys no longer kept), then the slot count.
    static let headerBytes = 16

    let slots: Int
    let bytes: Int
    let memory: UnsafeMutableRawPointer
    private let sets: Int

    /// `capacity` is rounded up to a multiple of `ways`.
    init(capacity: Int) {
        sets = max(1, (capacity + Self.ways - 1) / Self.ways)
        slots = sets * Self.ways
        bytes = Self.headerBytes + slots * Self.slotBytes
        guard let block = calloc(1, bytes) else { preconditionFailure("inventory: cannot allocate \(bytes) bytes") }
        memory = block
        memory.storeBytes(of: UInt64(slots), toByteOffset: 8, as: UInt64.self)
    }

    deinit { free(memory) }

    var other: UInt64 {
        get { memory.load(as: UInt64.self) }
        set { memory.storeBytes(of: newValue, as: UInt64.self) }
    }

    @inline(__always)
    func slot(_ index: Int) -> UnsafeMutablePointer<UInt64> {
        (memory + Self.headerBytes + index * Self.slotBytes).assumingMemoryBound(to: UInt64.self)
    }

    /// Counts one request under `key` (its text and network), seen at `now` (Unix seconds),
    /// and returns its slot so that the caller may add to the slot's other words. The hash
    /// is never 0 (0 marks an empty slot). Does not allocate.
    @discardableResult
    func record(_ key: InventoryKey, now: UInt64) -> UnsafeMutablePointer<UInt64> {
        let hash = key.hash
        let first = Int(hash % UInt64(sets)) * Self.ways
        var victim = first
        var victimCount = UInt64.max
        var w = 0
        while w < Self.ways {
            let s = slot(first + w)
            if s[Word.hash] == hash {
                Self.bump(s, now: now)
                return s
            }
            if s[Word.count] < victimCount {
                victimCount = s[Word.count]
                victim = first + w
            }
            w += 1
        }
        let s = slot(victim)
        if s[Word.hash] != 0 { other &+= s[Word.count] }
        (UnsafeMutableRawPointer(s)).initializeMemory(as: UInt8.self, repeating: 0, count: Self.textOffset)
        s[Word.hash] = hash
        s[Word.count] = 1
        s[Word.firstSeen] = now
        s[Word.lastSeen] = now
        s[Word.network] = key.network
        let n = min(key.count, Self.textCapacity)
        s[Word.textCount] = UInt64(n)
        (UnsafeMutableRawPointer(s) + Self.textOffset).copyMemory(from: key.text, byteCount: n)
        return s
    }

    /// One more occurrence of the key `s` holds, seen `now`.
    @inline(__always)
    static func bump(_ s: UnsafeMutablePointer<UInt64>, now: UInt64) {
        s[Word.count] &+= 1
        s[Word.lastSeen] = now
    }

    /// The slot `hash` holds now, if it is still kept (an end-of-request update for a key
    /// recorded at the head: the slot may have been taken by another key meanwhile).
    @inline(__always)
    func kept(_ slot: UnsafeMutablePointer<UInt64>?, hash: UInt64) -> UnsafeMutablePointer<UInt64>? {
        guard let slot, slot[Word.hash] == hash else { return nil }
        return slot
    }

    /// Copies the whole block to `target` (which holds at least `bytes`).
    func copy(into target: UnsafeMutableRawPointer) {
        target.copyMemory(from: memory, byteCount: bytes)
    }
}
