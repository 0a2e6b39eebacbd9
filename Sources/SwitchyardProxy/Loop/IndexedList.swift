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

    /// Removes `element` if it is in this array at its recorded position and returns the
    /// array's reference to it, moved out (the last element is swapped into its place, and
    /// nothing is retained or released); nil when it is not there.
    mutating func takeIndexed(_ element: Element) -> Element? {
        let index = element.listIndex
        guard index >= 0, index < count, self[index] === element else { return nil }
        let lastIndex = count &- 1
        if index != lastIndex {
            // The buffer's swap moves the two references; the array's copies them (a
            // retain and a release).
            withUnsafeMutableBufferPointer { $0.swapAt(index, lastIndex) }
            self[index].listIndex = index
        }
        element.listIndex = -1
        return removeLast()
    }

    /// Removes `element` if it is in this array at its recorded position; false otherwise
    /// (already removed, or never added).
    @discardableResult
    mutating func removeIndexed(_ element: Element) -> Bool {
        takeIndexed(element) != nil
    }
}
