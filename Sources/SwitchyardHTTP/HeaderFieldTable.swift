/// The field table of one parser: allocated once, at the parser's initialisation, with room
/// for `HTTPLimits.maxHeaderCount` fields, and reused for every message (no allocation per
/// message). The owning parser calls `deallocate()` in its `deinit`.
struct HeaderFieldTable {
    private let storage: UnsafeMutablePointer<HeaderField>
    /// Most fields the table holds.
    let capacity: Int
    /// Fields stored so far; `0..<count` are initialised.
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        // At least one slot so that the allocation is never zero-sized.
        storage = .allocate(capacity: max(capacity, 1))
    }

    func deallocate() {
        storage.deallocate()
    }

    /// Forgets every field (HeaderField is trivial, so there is nothing to deinitialise).
    mutating func removeAll() {
        count = 0
    }

    /// Stores a field; returns false (and stores nothing) when the table is full.
    mutating func append(_ field: HeaderField) -> Bool {
        guard count < capacity else { return false }
        (storage + count).initialize(to: field)
        count += 1
        return true
    }

    subscript(i: Int) -> HeaderField {
        get {
            precondition(i >= 0 && i < count, "header index out of range")
            return storage[i]
        }
        nonmutating set {
            precondition(i >= 0 && i < count, "header index out of range")
            storage[i] = newValue
        }
    }
}
