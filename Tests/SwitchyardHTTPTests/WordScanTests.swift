import Testing
@testable import SwitchyardHTTP

/// The word-at-a-time helpers agree with the byte-wise definitions for every byte value in
/// every lane, against backgrounds chosen to provoke borrows and carries between lanes.
@Suite struct WordScanTests {
    static let backgrounds: [UInt8] = [0x00, 0x09, 0x1F, 0x20, 0x40, 0x41, 0x5A, 0x5B, 0x60, 0x61, 0x7A, 0x7E, 0x7F, 0x80, 0xC1, 0xFF]

    static func word(_ bytes: [UInt8]) -> UInt64 {
        bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    static func plainByByte(_ bytes: [UInt8]) -> Bool {
        bytes.allSatisfy { ByteClass.isFieldValueChar($0) && $0 != 0x09 }
    }

    @Test func everyByteInEveryLaneAgainstEveryBackground() {
        for background in Self.backgrounds {
            for lane in 0..<8 {
                for value in 0...255 {
                    var bytes = [UInt8](repeating: background, count: 8)
                    bytes[lane] = UInt8(value)
                    let w = Self.word(bytes)
                    #expect(WordScan.isPlainFieldValue(w) == Self.plainByByte(bytes), "bytes \(bytes)")
                    #expect(WordScan.lowercased(w) == Self.word(bytes.map(ASCII.lowercased)), "bytes \(bytes)")
                    #expect(WordScan.nonNameLanes(w) == Self.nonNameLanesByByte(bytes), "bytes \(bytes)")
                }
            }
        }
    }

    /// An ASCII letter, digit or "-": the bytes the name scans skip (`WordScan.nonNameLanes`,
    /// `sy_head_non_name16`), by the definition.
    static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D
    }

    /// 0x80 in every lane whose byte is not a letter, digit or "-".
    static func nonNameLanesByByte(_ bytes: [UInt8]) -> UInt64 {
        word(bytes.map { isNameByte($0) ? 0 : 0x80 })
    }

    @Test func randomWordsAgreeWithTheByteWiseDefinitions() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200_000 {
            let w = generator.next() as UInt64
            let bytes = (0..<8).map { UInt8(truncatingIfNeeded: w >> (8 * UInt64($0))) }
            #expect(WordScan.isPlainFieldValue(w) == Self.plainByByte(bytes))
            #expect(WordScan.lowercased(w) == Self.word(bytes.map(ASCII.lowercased)))
            #expect(WordScan.nonNameLanes(w) == Self.nonNameLanesByByte(bytes))
        }
    }

    /// The word loops change nothing a parser or a comparison answers: long values with a
    /// bad byte at every position are refused there, and names of every length compare.
    @Test func fieldValuesAreRefusedAtTheBadByteWhereverItSits() throws {
        for position in 0..<40 {
            for bad: UInt8 in [0x00, 0x01, 0x0B, 0x1F, 0x7F] {
                var value = [UInt8](repeating: UInt8(ascii: "v"), count: 40)
                value[position] = bad
                let line = Array("X-Long: ".utf8) + value + [0x0D]
                let outcome = line.withUnsafeBytes { b in
                    Result { () throws(ParseFailure) in try FieldLine.parse(b, start: 0, cr: line.count - 1) }
                }
                guard case .failure(let failure) = outcome else {
                    Issue.record("byte \(bad) at \(position) was accepted"); continue
                }
                #expect(failure.offset == 8 + position, "byte \(bad) at \(position)")
            }
            var tabbed = [UInt8](repeating: UInt8(ascii: "v"), count: 40)
            tabbed[position] = 0x09
            let line = Array("X-Long: ".utf8) + tabbed + [0x0D]
            let parsed = try line.withUnsafeBytes { b in try FieldLine.parse(b, start: 0, cr: line.count - 1) }
            #expect(parsed.value.count == (position == 0 || position == 39 ? 39 : 40), "a HTAB inside a value is kept, at either end trimmed (position \(position))")
        }
    }

    @Test func namesOfEveryLengthCompareIgnoringCaseOnly() {
        for length in 0..<40 {
            let lower = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            let upper = lower.map { $0 - 0x20 }
            lower.withUnsafeBytes { l in
                upper.withUnsafeBytes { u in #expect(ASCII.equalsIgnoringCase(l, u)) }
            }
            for position in 0..<length {
                var other = upper
                other[position] ^= 0x01   // another letter
                var nonLetter = upper
                nonLetter[position] = upper[position] & 0xBF   // 'A'…'Z' → 0x01…0x1A: not a case pair
                lower.withUnsafeBytes { l in
                    other.withUnsafeBytes { o in #expect(!ASCII.equalsIgnoringCase(l, o), "length \(length) at \(position)") }
                    nonLetter.withUnsafeBytes { n in #expect(!ASCII.equalsIgnoringCase(l, n), "length \(length) at \(position)") }
                }
            }
        }
    }
}
