/// A streaming decoder for the chunked transfer coding (RFC 9112 §7.1). It keeps no bytes:
/// it walks the framing one byte at a time, so the caller may split the input anywhere.
///
/// Strictness: chunk-size is 1–13 hex digits with nothing before them (no sign, "0x" or
/// whitespace) and nothing after them but ';' extensions or CRLF (no BWS either: RFC 9112
/// allows it before ';', but parsers disagree on it, which is a smuggling vector).
/// Extensions (dropped) may hold any byte but CTLs other than HTAB, and are capped at
/// `maxChunkExtensionBytes`. Chunk data must be followed by exactly CRLF. Trailer fields
/// (dropped) follow the header field-line rules, may not be Content-Length,
/// Transfer-Encoding or Host, and are capped at `maxTrailerBytes`. Every error is 400,
/// at an offset counted from the body's first byte.
public struct ChunkedDecoder: Sendable {
    /// Most hex digits in a chunk-size: 13 digits stay below 2^52, so the size can neither
    /// overflow nor be read differently by a parser with 64-bit arithmetic.
    public static let maxChunkSizeDigits = 13

    private enum State: Sendable {
        /// Expecting the first hex digit of a chunk-size.
        case sizeStart
        /// Inside the chunk-size digits; `size` and `digits` hold what was read.
        case size
        /// After ';' on a chunk-size line; `extensionBytes` counted so far.
        case extensions
        /// Read the CR ending a chunk-size line.
        case sizeLF
        /// Inside chunk data; `remaining` > 0 bytes left.
        case data
        /// Chunk data done; expecting its CR.
        case dataCR
        /// Expecting the LF after chunk data.
        case dataLF
        /// At the start of a trailer line (or of the final empty line).
        case trailerLineStart
        /// Inside a trailer field name; `nameLength` and `forbiddenCandidates` track it.
        case trailerName
        /// Inside a trailer field value.
        case trailerValue
        /// Expecting the LF ending a trailer line.
        case trailerLF
        /// Expecting the LF of the final CRLF.
        case finalLF
        /// The body is complete.
        case finished
    }

    /// Trailer field names refused (400): they would change framing or routing if a later
    /// hop merged trailers into the head. Lowercase; '_' in a name also matches '-'.
    private static let forbiddenTrailerNames: (StaticString, StaticString, StaticString) =
        ("content-length", "transfer-encoding", "host")

    private let limits: HTTPLimits
    private var state = State.sizeStart
    private var size: UInt64 = 0
    private var digits = 0
    private var remaining: UInt64 = 0
    private var extensionBytes = 0
    private var trailerBytes = 0
    private var nameLength = 0
    /// Bit k set: the trailer name read so far may still be forbiddenTrailerNames.k.
    private var forbiddenCandidates: UInt8 = 0
    /// Body bytes consumed by earlier calls, for error offsets.
    private var position = 0

    public init(limits: HTTPLimits = .default) {
        self.limits = limits
    }

    /// Prepares for the next body.
    public mutating func reset() {
        self = ChunkedDecoder(limits: limits)
    }

    /// Processes `input` from its first byte. Skips framing bytes; if chunk data is
    /// available, stops after ONE data run of at most `maxData` bytes (maxData > 0).
    ///
    /// - consumed: bytes of input the caller must drop (covers framing and the data run);
    /// - data: the data run's offset and length within `input` (count 0 if none);
    /// - finished: the last chunk, the trailers and the final CRLF were consumed (then
    ///   nothing after them was consumed).
    ///
    /// If consumed == 0 and !finished and data.count == 0, more input is needed.
    public mutating func decode(_ input: UnsafeRawBufferPointer, maxData: Int) throws(HTTPParseError) -> ChunkedStep {
        precondition(maxData > 0, "maxData must be positive")
        do throws(ParseFailure) {
            return try step(input, maxData: maxData)
        } catch {
            throw error.publicError()
        }
    }

    private mutating func step(_ input: UnsafeRawBufferPointer, maxData: Int) throws(ParseFailure) -> ChunkedStep {
        let noData = ByteSpan(start: 0, count: 0)
        if case .finished = state {
            return ChunkedStep(consumed: 0, data: noData, finished: true)
        }
        var i = 0
        while i < input.count {
            let c = input[i]
            switch state {
            case .sizeStart:
                guard let v = ByteClass.hexValue(c) else {
                    throw ParseFailure(400, "chunk size must start with a hex digit", at: position + i)
                }
                size = UInt64(v)
                digits = 1
                state = .size
            case .size:
                if let v = ByteClass.hexValue(c) {
                    digits += 1
                    guard digits <= Self.maxChunkSizeDigits else {
                        throw ParseFailure(400, "chunk size longer than 13 hex digits", at: position + i)
                    }
                    size = size << 4 | UInt64(v)
                } else if c == Byte.semicolon {
                    extensionBytes = 1
                    try checkExtensionLength(at: i)
                    state = .extensions
                } else if c == Byte.cr {
                    state = .sizeLF
                } else {
                    throw ParseFailure(400, "invalid byte after the chunk size", at: position + i)
                }
            case .extensions:
                if c == Byte.cr {
                    state = .sizeLF
                } else {
                    guard ByteClass.isFieldValueChar(c) else {
                        throw ParseFailure(400, "control byte in a chunk extension", at: position + i)
                    }
                    extensionBytes += 1
                    try checkExtensionLength(at: i)
                }
            case .sizeLF:
                guard c == Byte.lf else { throw ParseFailure(400, "chunk size line must end with CRLF", at: position + i) }
                if size == 0 {
                    trailerBytes = 0
                    state = .trailerLineStart
                } else {
                    remaining = size
                    state = .data
                }
            case .data:
                let run = Int(min(remaining, UInt64(min(maxData, input.count - i))))
                remaining -= UInt64(run)
                if remaining == 0 { state = .dataCR }
                let consumed = i + run
                position += consumed
                return ChunkedStep(consumed: consumed, data: ByteSpan(start: i, count: run), finished: false)
            case .dataCR:
                guard c == Byte.cr else { throw ParseFailure(400, "chunk data must be followed by CRLF", at: position + i) }
                state = .dataLF
            case .dataLF:
                guard c == Byte.lf else { throw ParseFailure(400, "chunk data must be followed by CRLF", at: position + i) }
                state = .sizeStart
            case .trailerLineStart, .trailerName, .trailerValue, .trailerLF, .finalLF:
                trailerBytes += 1
                guard trailerBytes <= limits.maxTrailerBytes else {
                    throw ParseFailure(400, "trailer section larger than the limit", at: position + i)
                }
                if try trailerByte(c, at: i) {
                    let consumed = i + 1
                    position += consumed
                    return ChunkedStep(consumed: consumed, data: noData, finished: true)
                }
            case .finished:
                preconditionFailure("Invalid state: finished bodies return before the loop")
            }
            i += 1
        }
        position += i
        return ChunkedStep(consumed: i, data: noData, finished: false)
    }

    private func checkExtensionLength(at i: Int) throws(ParseFailure) {
        guard extensionBytes <= limits.maxChunkExtensionBytes else {
            throw ParseFailure(400, "chunk extensions longer than the limit", at: position + i)
        }
    }

    /// One byte of the trailer section; true when it was the final LF.
    private mutating func trailerByte(_ c: UInt8, at i: Int) throws(ParseFailure) -> Bool {
        switch state {
        case .trailerLineStart:
            if c == Byte.cr {
                state = .finalLF
            } else if ByteClass.isTokenChar(c) {
                nameLength = 0
                forbiddenCandidates = 0b111
                advanceName(c)
                state = .trailerName
            } else if ByteClass.isWhitespace(c) {
                throw ParseFailure(400, "trailer line starts with whitespace (obs-fold is not accepted)", at: position + i)
            } else {
                throw ParseFailure(400, "invalid byte in a trailer field name", at: position + i)
            }
        case .trailerName:
            if c == Byte.colon {
                if isForbiddenName() {
                    throw ParseFailure(400, "Content-Length, Transfer-Encoding and Host are not allowed in trailers",
                                       at: position + i - nameLength)
                }
                state = .trailerValue
            } else if ByteClass.isTokenChar(c) {
                advanceName(c)
            } else {
                throw ParseFailure(400, "invalid byte in a trailer field name", at: position + i)
            }
        case .trailerValue:
            if c == Byte.cr {
                state = .trailerLF
            } else if !ByteClass.isFieldValueChar(c) {
                throw ParseFailure(400, "control byte in a trailer field value", at: position + i)
            }
        case .trailerLF:
            guard c == Byte.lf else { throw ParseFailure(400, "bare CR in trailers", at: position + i) }
            state = .trailerLineStart
        case .finalLF:
            guard c == Byte.lf else { throw ParseFailure(400, "chunked body must end with CRLF", at: position + i) }
            state = .finished
            return true
        default:
            preconditionFailure("Invalid state for a trailer byte: \(state)")
        }
        return false
    }

    /// Narrows the forbidden-name candidates with the name's next byte.
    private mutating func advanceName(_ c: UInt8) {
        var folded = ASCII.lowercased(c)
        if folded == UInt8(ascii: "_") { folded = UInt8(ascii: "-") }
        let names = Self.forbiddenTrailerNames
        narrow(bit: 1, name: names.0, folded)
        narrow(bit: 2, name: names.1, folded)
        narrow(bit: 4, name: names.2, folded)
        nameLength += 1
    }

    private mutating func narrow(bit: UInt8, name: StaticString, _ folded: UInt8) {
        guard forbiddenCandidates & bit != 0 else { return }
        if nameLength >= name.utf8CodeUnitCount || name.utf8Start[nameLength] != folded {
            forbiddenCandidates &= ~bit
        }
    }

    private func isForbiddenName() -> Bool {
        let names = Self.forbiddenTrailerNames
        return (forbiddenCandidates & 1 != 0 && nameLength == names.0.utf8CodeUnitCount)
            || (forbiddenCandidates & 2 != 0 && nameLength == names.1.utf8CodeUnitCount)
            || (forbiddenCandidates & 4 != 0 && nameLength == names.2.utf8CodeUnitCount)
    }
}
