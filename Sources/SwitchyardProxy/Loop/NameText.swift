/// Names (of routes, of backends) laid end to end in one allocation, each read as an
/// `UnsafeRawBufferPointer`: an array of arrays retains and releases the inner array it
/// hands out, an atomic pair on every request that writes a name. The owner frees it
/// (`deallocate`) and keeps it as long as anyone may read a name.
struct NameText {
    private let bytes: UnsafeMutableRawBufferPointer
    /// Where each name ends in `bytes` (it starts where the one before ended).
    private let ends: [Int]

    init(_ names: [[UInt8]]) {
        let text = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, names.reduce(0) { $0 + $1.count }), alignment: 1)
        var nameEnds: [Int] = []
        nameEnds.reserveCapacity(names.count)
        var end = 0
        for name in names {
            name.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: text[end..<(end + $0.count)]).copyMemory(from: $0) }
            end += name.count
            nameEnds.append(end)
        }
        bytes = text
        ends = nameEnds
    }

    /// Name `index` (in range: the caller's index came from the same table).
    @inline(__always)
    subscript(index: Int) -> UnsafeRawBufferPointer {
        let start = index == 0 ? 0 : ends[index &- 1]
        return UnsafeRawBufferPointer(rebasing: bytes[start..<ends[index]])
    }

    func deallocate() { bytes.deallocate() }
}
