/// An object kept in one array that knows its position there, so it can be removed in
/// O(1) (swapped with the last element) — a worker's connections, a connection's streams.
protocol Indexed: AnyObject {
    var listIndex: Int { get set }
}

extension Array where Element: Indexed {
    /// Appends `element` and records its position. `consuming`: a caller's last use moves
    /// its reference into the array instead of retaining a copy.
    mutating func appendIndexed(_ element: consuming Element) {
        element.listIndex = count
        append(element)
    }

    /// Removes `element` if it is in this array at its recorded position; false otherwise
    /// (already removed, or never added).
    @discardableResult
    mutating func removeIndexed(_ element: Element) -> Bool {
        let index = element.listIndex
        guard index >= 0, index < count, self[index] === element else { return false }
        let last = removeLast()
        if index < count {
            self[index] = last
            last.listIndex = index
        }
        element.listIndex = -1
        return true
    }
}
