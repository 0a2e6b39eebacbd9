import CNGHTTP2

/// A response head being assembled for `H2ServerSession.submitResponse`: `:status` and
/// fields with their names lower-cased (HTTP/2 requires it; HTTP/1.1 backends send any
/// case). Storage is allocated once and reused; values are borrowed until submitted.
public final class H2ResponseHead {
    private var fields: UnsafeMutablePointer<nghttp2_nv>
    public private(set) var count = 0
    private let capacity: Int
    private let names: UnsafeMutableRawBufferPointer
    private var namesUsed = 0
    private var statusDigits: (UInt8, UInt8, UInt8) = (0, 0, 0)

    public init(maxFields: Int = 128, maxNameBytes: Int = 16 * 1024) {
        capacity = maxFields + 1
        fields = .allocate(capacity: capacity)
        names = .allocate(byteCount: maxNameBytes, alignment: 1)
    }

    deinit {
        fields.deallocate()
        names.deallocate()
    }

    /// Starts a head with `status` (100…999).
    public func reset(status: Int) {
        precondition(status >= 100 && status <= 999, "status out of range")
        count = 0
        namesUsed = 0
        statusDigits = (UInt8(ascii: "0") + UInt8(status / 100), UInt8(ascii: "0") + UInt8(status / 10 % 10),
                        UInt8(ascii: "0") + UInt8(status % 10))
        // The status value is copied into `names`, so it lives as long as the head.
        let start = namesUsed
        names[start] = statusDigits.0
        names[start + 1] = statusDigits.1
        names[start + 2] = statusDigits.2
        namesUsed = 3
        append(name: Self.statusName, nameLength: 7, value: names.baseAddress!, valueLength: 3)
    }

    /// Adds a field; false when the head is full (too many fields or name bytes).
    @discardableResult
    public func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Bool {
        guard count < capacity, namesUsed + name.count <= names.count else { return false }
        let start = names.baseAddress! + namesUsed
        // Lower-cased a word at a time (the last word may overlap the one before it).
        if let from = name.baseAddress, name.count >= 8 {
            _ = WordScan.everyWord(count: name.count) {
                start.storeBytes(of: WordScan.lowercased(WordScan.load(from, $0)).littleEndian, toByteOffset: $0, as: UInt64.self)
                return true
            }
        } else {
            for i in 0..<name.count {
                start.storeBytes(of: ASCII.lowercased(name[i]), toByteOffset: i, as: UInt8.self)
            }
        }
        namesUsed += name.count
        append(name: UnsafeRawPointer(start), nameLength: name.count,
               value: value.baseAddress ?? UnsafeRawPointer(Self.statusName), valueLength: value.count)
        return true
    }

    private func append(name: UnsafeRawPointer, nameLength: Int, value: UnsafeRawPointer, valueLength: Int) {
        fields[count] = nghttp2_nv(name: UnsafeMutablePointer(mutating: name.assumingMemoryBound(to: UInt8.self)),
                                   value: UnsafeMutablePointer(mutating: value.assumingMemoryBound(to: UInt8.self)),
                                   namelen: nameLength, valuelen: valueLength, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        count += 1
    }

    nonisolated(unsafe) private static let statusName: UnsafeRawPointer = {
        let p = UnsafeMutableRawPointer.allocate(byteCount: 7, alignment: 1)
        for (i, c) in ":status".utf8.enumerated() { p.storeBytes(of: c, toByteOffset: i, as: UInt8.self) }
        return UnsafeRawPointer(p)
    }()

    var nv: UnsafePointer<nghttp2_nv> { UnsafePointer(fields) }
}
