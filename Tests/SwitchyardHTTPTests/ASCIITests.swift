import Testing
import SwitchyardHTTP

@Suite struct ASCIITests {
    @Test func equalsIgnoringCaseWithALiteral() {
        bytes("Content-LENGTH").withUnsafeBytes { b in
            #expect(ASCII.equalsIgnoringCase(b, "content-length"))
            #expect(!ASCII.equalsIgnoringCase(b, "content-lengths"))
            #expect(!ASCII.equalsIgnoringCase(b, "content_length"))
        }
        [UInt8]().withUnsafeBytes { #expect(ASCII.equalsIgnoringCase($0, "")) }
    }

    @Test func equalsIgnoringCaseWithBytes() {
        bytes("Host").withUnsafeBytes { a in
            bytes("hOST").withUnsafeBytes { b in #expect(ASCII.equalsIgnoringCase(a, b)) }
            bytes("hOSt ").withUnsafeBytes { b in #expect(!ASCII.equalsIgnoringCase(a, b)) }
        }
    }

    /// Only A–Z fold: '@' (0x40) and '`' (0x60), '[' and '{' differ by the case bit but are
    /// different characters.
    @Test func onlyLettersFold() {
        bytes("@[").withUnsafeBytes { #expect(!ASCII.equalsIgnoringCase($0, "`{")) }
        [UInt8]([0xC9]).withUnsafeBytes { a in
            [UInt8]([0xE9]).withUnsafeBytes { b in #expect(!ASCII.equalsIgnoringCase(a, b)) }
        }
    }

    /// `equals` compares by words, by two overlapping halves or byte by byte, depending on
    /// the length: a difference in any one byte is seen at every length, and so is a length
    /// that differs.
    @Test func equalsSeesADifferenceInEveryByteAtEveryLength() {
        let literals: [StaticString] = ["", "G", "GET", "HEAD", "PATCH", "DELETE", "OPTIONS", "HTTP/1.1", "HTTP/1.10",
                                        "abcdefghijklmnop", "abcdefghijklmnopq"]
        for literal in literals {
            let text = literal.withUTF8Buffer { Array($0) }
            text.withUnsafeBytes { #expect(ASCII.equals($0, literal), "\(literal)") }
            (text + [0x20]).withUnsafeBytes { #expect(!ASCII.equals($0, literal), "\(literal) plus a byte") }
            if !text.isEmpty { text.dropLast().withUnsafeBytes { #expect(!ASCII.equals($0, literal), "\(literal) less a byte") } }
            for i in text.indices {
                var other = text
                other[i] ^= 0x20
                other.withUnsafeBytes { #expect(!ASCII.equals($0, literal), "\(literal) with byte \(i) changed") }
            }
        }
    }

    /// The same for `equalsIgnoringCase` with a literal and with bytes: any letter's case may
    /// differ; a different letter, or '@' for '`', in any one byte is seen at every length.
    @Test func equalsIgnoringCaseSeesADifferenceInEveryByteAtEveryLength() {
        let literals: [StaticString] = ["t", "te", "via", "host", "etag", "accept", "upgrade", "x-req-id", "keep-alive",
                                        "content-length", "transfer-encoding", "`{@["]
        for literal in literals {
            let text = literal.withUTF8Buffer { Array($0) }
            let upper = text.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
            upper.withUnsafeBytes { a in
                #expect(ASCII.equalsIgnoringCase(a, literal), "\(literal) in capitals")
                text.withUnsafeBytes { #expect(ASCII.equalsIgnoringCase(a, $0), "\(literal) in capitals, as bytes") }
                text.withUnsafeBytes { #expect(ASCII.equalsIgnoringCase(a, lowercased: $0), "\(literal) in capitals, against lowercased bytes") }
            }
            for i in text.indices {
                var other = upper
                other[i] = text[i] >= 0x61 && text[i] <= 0x7A ? (text[i] == 0x7A ? 0x41 : text[i] - 0x1F) : text[i] ^ 0x20
                other.withUnsafeBytes { a in
                    #expect(!ASCII.equalsIgnoringCase(a, literal), "\(literal) with byte \(i) changed")
                    text.withUnsafeBytes { #expect(!ASCII.equalsIgnoringCase(a, $0), "\(literal) with byte \(i) changed, as bytes") }
                    text.withUnsafeBytes { #expect(!ASCII.equalsIgnoringCase(a, lowercased: $0), "\(literal) with byte \(i) changed, against lowercased bytes") }
                }
            }
        }
    }
}
