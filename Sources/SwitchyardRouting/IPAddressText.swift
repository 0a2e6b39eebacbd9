// Text → integer parsing of IP literals, shared by listen/server addresses, CIDRs and
// `ClientAddress(parsing:)`. Strict on purpose: a routes file is read by people, and
// "010.0.0.1" (octal to some tools, decimal to others) is better refused than guessed.

/// Dotted-quad IPv4 in host byte order; no leading zeros, each part 0…255.
func parseIPv4(_ text: Substring) -> UInt32? {
    var value: UInt32 = 0
    var parts = 0
    for part in text.split(separator: ".", omittingEmptySubsequences: false) {
        guard !part.isEmpty, part.count <= 3, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              !(part.count > 1 && part.first == "0"),
              let byte = UInt32(part), byte <= 255 else { return nil }
        value = value << 8 | byte
        parts += 1
    }
    return parts == 4 ? value : nil
}

/// IPv6 text (RFC 4291 §2.2: `::` compression, optional dotted IPv4 tail) as two host-order
/// halves. Zone identifiers (`%eth0`) are refused: they mean nothing in a routes file.
func parseIPv6(_ text: Substring) -> (high: UInt64, low: UInt64)? {
    let head: Substring
    let tail: Substring?
    if let range = text.firstRange(of: "::") {
        head = text[text.startIndex..<range.lowerBound]
        tail = text[range.upperBound...]
        if tail!.contains("::") { return nil }
    } else {
        head = text
        tail = nil
    }
    guard let headGroups = parseIPv6Groups(head, allowIPv4Tail: tail == nil) else { return nil }
    var groups = headGroups
    if let tail {
        guard let tailGroups = parseIPv6Groups(tail, allowIPv4Tail: true),
              headGroups.count + tailGroups.count <= 7 else { return nil }
        groups += Array(repeating: 0, count: 8 - headGroups.count - tailGroups.count) + tailGroups
    }
    guard groups.count == 8 else { return nil }
    var high: UInt64 = 0
    var low: UInt64 = 0
    for i in 0..<4 { high = high << 16 | UInt64(groups[i]) }
    for i in 4..<8 { low = low << 16 | UInt64(groups[i]) }
    return (high, low)
}

private func parseIPv6Groups(_ text: Substring, allowIPv4Tail: Bool) -> [UInt16]? {
    if text.isEmpty { return [] }
    let pieces = text.split(separator: ":", omittingEmptySubsequences: false)
    var groups: [UInt16] = []
    for (i, piece) in pieces.enumerated() {
        if allowIPv4Tail && i == pieces.count - 1 && piece.contains(".") {
            guard let v4 = parseIPv4(piece) else { return nil }
            groups.append(UInt16(v4 >> 16))
            groups.append(UInt16(v4 & 0xFFFF))
            continue
        }
        guard (1...4).contains(piece.count), let group = UInt16(piece, radix: 16),
              piece.utf8.allSatisfy({ isHexDigit($0) }) else { return nil }
        groups.append(group)
    }
    return groups
}

func isHexDigit(_ byte: UInt8) -> Bool {
    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
}

func formatIPv4(_ value: UInt32) -> String {
    "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
}

/// RFC 5952 canonical text: lower-case, the longest run of two or more zero groups as `::`.
func formatIPv6(high: UInt64, low: UInt64) -> String {
    let groups: [UInt16] = (0..<8).map { i in
        let half = i < 4 ? high : low
        return UInt16(truncatingIfNeeded: half >> (UInt64(3 - i % 4) * 16))
    }
    var bestStart = -1, bestLength = 0
    var i = 0
    while i < 8 {
        guard groups[i] == 0 else { i += 1; continue }
        var j = i
        while j < 8 && groups[j] == 0 { j += 1 }
        if j - i > bestLength && j - i >= 2 { bestStart = i; bestLength = j - i }
        i = j
    }
    func hex(_ range: Range<Int>) -> String {
        groups[range].map { String($0, radix: 16) }.joined(separator: ":")
    }
    if bestStart < 0 { return hex(0..<8) }
    return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
}
