import Testing
@testable import SwitchyardHTTP

/// The one-pass line scan answers exactly what the byte-by-byte definition answers — the
/// line end, the refusal and where it points, the limit, where to resume — and vouches for
/// a line's bytes (`plain`) only when none of them is a control byte or DEL.
@Suite struct LineScannerTests {
    enum Answer: Equatable {
        case outcome(LineScanner.Outcome)
        case refused(status: Int, offset: Int)
    }

    /// The definition: the first CR or LF at or after `from` and by `stop - 2`; a LF first is
    /// a bare LF; a CR needs a LF right after (or more bytes).
    static func byByte(_ b: [UInt8], from: Int, stop: Int) -> Answer {
        let lastCR = stop - 2
        let end = min(b.count, lastCR + 1)
        var i = from
        while i < end {
            if b[i] == 0x0A { return .refused(status: 400, offset: i) }
            if b[i] == 0x0D {
                if i + 1 >= b.count { return .outcome(.needMore(resumeAt: i)) }
                guard b[i + 1] == 0x0A else { return .refused(status: 400, offset: i) }
                let plain = b[from..<i].allSatisfy { $0 >= 0x20 && $0 != 0x7F }
                return .outcome(.line(cr: i, plain: plain))
            }
            i += 1
        }
        return .outcome(b.count > lastCR ? .limit : .needMore(resumeAt: max(from, end)))
    }

    static func scanned(_ b: [UInt8], from: Int, stop: Int) -> Answer {
        b.withUnsafeBytes { raw in
            do throws(ParseFailure) {
                return .outcome(try LineScanner.scan(raw, from: from, stop: stop))
            } catch {
                return .refused(status: error.status, offset: error.offset)
            }
        }
    }

    /// Random lines over an alphabet heavy in the bytes that matter (CR, LF, HTAB, NUL, DEL,
    /// 0x1F, 0x20, 0x80, 0xFF), every start and many limits: 0 disagreements.
    @Test func randomLinesAgreeWithTheByteWiseDefinition() {
        let alphabet: [UInt8] = [0x61, 0x61, 0x61, 0x20, 0x3A, 0x0D, 0x0A, 0x09, 0x00, 0x7F, 0x1F, 0x80, 0xFF, 0x7E]
        var generator = SystemRandomNumberGenerator()
        var lines = 0, plainLines = 0
        for _ in 0..<4_000 {
            // Mostly plain bytes, so that long runs reach the word loop; every other one ends
            // in CRLF and a few more bytes, as a line inside a head does.
            let random = { (n: Int) in
                (0..<n).map { _ in
                    Int.random(in: 0..<6, using: &generator) == 0 ? alphabet.randomElement(using: &generator)! : UInt8(0x61)
                }
            }
            var b = random(Int.random(in: 0...50, using: &generator))
            if Bool.random(using: &generator) { b += [0x0D, 0x0A] + random(Int.random(in: 0...10, using: &generator)) }
            let count = b.count
            for from in 0...count {
                for stop in Set([from, from + 2, from + 9, count, count + 1, count + 2, count + 40]) {
                    let expected = Self.byByte(b, from: from, stop: stop)
                    #expect(Self.scanned(b, from: from, stop: stop) == expected, "bytes \(b) from \(from) stop \(stop)")
                    if case .outcome(.line(_, let plain)) = expected { lines += 1; if plain { plainLines += 1 } }
                }
            }
        }
        #expect(lines > 5_000 && plainLines > 1_000, "the random lines reach both kinds of answer")
    }

    /// A control byte or DEL in any of the first 40 positions of a line is seen, in the word
    /// loop and in the tail alike; the CR after it still ends the line.
    @Test func aControlByteAnywhereMakesTheLineNotPlain() {
        for length in 1...40 {
            for position in 0..<length {
                for bad: UInt8 in [0x00, 0x09, 0x1F, 0x7F] {
                    var b = [UInt8](repeating: 0x76, count: length) + [0x0D, 0x0A]
                    b[position] = bad
                    #expect(Self.scanned(b, from: 0, stop: 100) == .outcome(.line(cr: length, plain: false)),
                            "byte \(bad) at \(position) of \(length)")
                }
            }
            let clean = [UInt8](repeating: 0x76, count: length) + [0x0D, 0x0A]
            #expect(Self.scanned(clean, from: 0, stop: 100) == .outcome(.line(cr: length, plain: true)))
        }
    }

    /// A value's control byte is refused by the parser whether the line came whole (the
    /// scan saw it) or in pieces (the scan of the last piece did not see it).
    @Test func aControlByteInAValueIsRefusedWhetherTheHeadCameWholeOrInPieces() {
        let head = Array("GET / HTTP/1.1\r\nHost: a\r\nX-A: bb\u{01}bbbbbbbbbbbbbbbb\r\n\r\n".utf8)
        for split in 0...head.count {
            let parser = HTTPRequestParser()
            var result = head[..<split].withUnsafeBytes { parser.parse($0) }
            if case .needMore = result { result = head.withUnsafeBytes { parser.parse($0) } }
            guard case .error(let error) = result else {
                Issue.record("split at \(split): \(result)"); continue
            }
            #expect(error.status == 400, "split at \(split)")
        }
    }
}
