import CSwitchyardHeadScan
import Testing
@testable import SwitchyardHTTP

/// The sixteen-lane scans (`CSwitchyardHeadScan`, SSE2) agree with the byte-wise definitions
/// for every byte value in every lane, and the field-name scan built on them ends a name
/// exactly where the byte-by-byte rule does, wherever in the sixteen- and eight-byte steps
/// the ending byte falls.
@Suite struct HeadScanTests {
    static let backgrounds: [UInt8] = [0x00, 0x09, 0x0D, 0x1F, 0x20, 0x2D, 0x2F, 0x30, 0x39, 0x3A, 0x40, 0x41, 0x5A, 0x5B,
                                       0x60, 0x61, 0x7A, 0x7B, 0x7E, 0x7F, 0x80, 0xA0, 0xC1, 0xE1, 0xFF]

    static func specialByByte(_ bytes: [UInt8]) -> UInt32 {
        lanes(bytes) { $0 < 0x20 || $0 == 0x7F }
    }

    static func nonNameByByte(_ bytes: [UInt8]) -> UInt32 {
        lanes(bytes) { !WordScanTests.isNameByte($0) }
    }

    static func lanes(_ bytes: [UInt8], _ flagged: (UInt8) -> Bool) -> UInt32 {
        bytes.enumerated().reduce(0) { flagged($1.element) ? $0 | 1 << UInt32($1.offset) : $0 }
    }

    @Test func everyByteInEveryLaneAgainstEveryBackground() {
        var checked = 0
        for background in Self.backgrounds {
            for lane in 0..<16 {
                for value in 0...255 {
                    var bytes = [UInt8](repeating: background, count: 16)
                    bytes[lane] = UInt8(value)
                    bytes.withUnsafeBytes { raw in
                        #expect(sy_head_special16(raw.baseAddress!) == Self.specialByByte(bytes), "bytes \(bytes)")
                        #expect(sy_head_non_name16(raw.baseAddress!) == Self.nonNameByByte(bytes), "bytes \(bytes)")
                    }
                    checked += 1
                }
            }
        }
        #expect(checked == Self.backgrounds.count * 16 * 256)
    }

    @Test func randomVectorsAndUnalignedLoadsAgree() {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 33)
        for _ in 0..<50_000 {
            for k in bytes.indices { bytes[k] = UInt8.random(in: 0...255, using: &generator) }
            let offset = Int.random(in: 0...17, using: &generator)
            let window = Array(bytes[offset..<offset + 16])
            bytes.withUnsafeBytes { raw in
                #expect(sy_head_special16(raw.baseAddress! + offset) == Self.specialByByte(window))
                #expect(sy_head_non_name16(raw.baseAddress! + offset) == Self.nonNameByByte(window))
            }
        }
    }

    enum NameAnswer: Equatable {
        case name(Int)
        case refused(offset: Int)
    }

    /// The rule: the name runs over token bytes up to the colon; a line starting with
    /// whitespace, an empty name, or a name ended by anything but a colon is refused, at
    /// the line's start or at the byte that ended the name.
    static func nameByByte(_ line: [UInt8], cr: Int) -> NameAnswer {
        if line[0] == 0x20 || line[0] == 0x09 { return .refused(offset: 0) }
        var i = 0
        while i < cr, ByteClass.isTokenChar(line[i]) { i += 1 }
        guard i < cr else { return .refused(offset: 0) }
        guard line[i] == 0x3A else { return .refused(offset: i) }
        return i == 0 ? .refused(offset: 0) : .name(i)
    }

    /// Names of 1 to 40 bytes with every byte value at every position: the parsed name (or
    /// the refusal's offset) is the rule's, through the sixteen-byte, eight-byte and byte steps.
    @Test func aFieldNameEndsWhereTheByteWiseRuleSaysWhereverTheByteSits() {
        var accepted = 0, refused = 0
        for length in 1...40 {
            for position in 0..<length {
                for value in 0...255 where value != 0x0D && value != 0x0A {
                    var line = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
                    line[position] = UInt8(value)
                    line += Array(": value".utf8)
                    let cr = line.count
                    line += [0x0D, 0x0A]
                    let expected = Self.nameByByte(line, cr: cr)
                    let got: NameAnswer = line.withUnsafeBytes { raw in
                        do throws(ParseFailure) {
                            return .name(try FieldLine.parse(raw, start: 0, cr: cr).name.count)
                        } catch {
                            return .refused(offset: error.offset)
                        }
                    }
                    #expect(got == expected, "byte \(value) at \(position) of a \(length)-byte name")
                    if case .name = expected { accepted += 1 } else { refused += 1 }
                }
            }
        }
        #expect(accepted > 50_000 && refused > 50_000, "both answers are reached")
    }
}
