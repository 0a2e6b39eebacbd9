/// A JSON field path as the routes file writes it (`compare ignore json $.meta.requestId`,
/// `$.items[*].ts`), and as the comparer reports a mismatch (`$.patient.name`).
///
/// Grammar: `$` then any number of steps — `.NAME` (letters, digits, `_`, `-`, `$`, `@`),
/// `.*` (any key), `[N]` (one array index), `[*]` (any index), `["NAME"]` (a key with any other
/// characters; `\"` and `\\` escaped). A pattern matches a concrete path of the same length
/// whose steps it matches one by one; it also matches everything below that path (ignoring
/// `$.meta` ignores `$.meta.requestId`).
public struct JSONPathPattern: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Step: Sendable, Equatable, Hashable {
        case key(String)
        case anyKey
        case index(Int)
        case anyIndex
    }

    public var steps: [Step]

    public init(steps: [Step]) { self.steps = steps }

    /// Why a path does not parse, and at which character (0-based) of the text.
    public struct ParseError: Error, Sendable, Equatable {
        public var offset: Int
        public var message: String
    }

    /// Longest path accepted in the routes file (deeper JSON is compared by hash anyway).
    public static let maxSteps = 64

    public init(parsing text: String) throws(ParseError) {
        let chars = Array(text.unicodeScalars)
        guard chars.first == "$" else { throw ParseError(offset: 0, message: "a JSON path starts with $ (e.g. $.meta.requestId)") }
        var steps: [Step] = []
        var i = 1
        func isNameChar(_ c: Unicode.Scalar) -> Bool {
            c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" || c == "-" || c == "$" || c == "@"
        }
        while i < chars.count {
            if steps.count >= Self.maxSteps { throw ParseError(offset: i, message: "path longer than \(Self.maxSteps) steps") }
            switch chars[i] {
            case ".":
                i += 1
                if i < chars.count && chars[i] == "*" { steps.append(.anyKey); i += 1; continue }
                let start = i
                while i < chars.count && isNameChar(chars[i]) { i += 1 }
                guard i > start else { throw ParseError(offset: start, message: "expected a field name or * after '.'") }
                steps.append(.key(String(String.UnicodeScalarView(chars[start..<i]))))
            case "[":
                i += 1
                guard i < chars.count else { throw ParseError(offset: i, message: "unclosed '['") }
                if chars[i] == "*" {
                    i += 1
                    steps.append(.anyIndex)
                } else if chars[i] == "\"" {
                    i += 1
                    var name = String.UnicodeScalarView()
                    while i < chars.count && chars[i] != "\"" {
                        if chars[i] == "\\" {
                            i += 1
                            guard i < chars.count, chars[i] == "\"" || chars[i] == "\\" else {
                                throw ParseError(offset: i, message: "only \\\" and \\\\ are escapes in a quoted name")
                            }
                        }
                        name.append(chars[i])
                        i += 1
                    }
                    guard i < chars.count else { throw ParseError(offset: i, message: "unclosed quoted name") }
                    i += 1
                    steps.append(.key(String(name)))
                } else {
                    let start = i
                    while i < chars.count && ("0"..."9").contains(chars[i]) { i += 1 }
                    guard i > start, i - start <= 9, let n = Int(String(String.UnicodeScalarView(chars[start..<i]))) else {
                        throw ParseError(offset: start, message: "expected an index, * or a quoted name inside [ ]")
                    }
                    steps.append(.index(n))
                }
                guard i < chars.count, chars[i] == "]" else { throw ParseError(offset: i, message: "expected ']'") }
                i += 1
            default:
                throw ParseError(offset: i, message: "unexpected '\(chars[i])' (steps are .NAME, .*, [N], [*] or [\"NAME\"])")
            }
        }
        // `$` alone would ignore the whole body: every pair would look equal.
        guard !steps.isEmpty else {
            throw ParseError(offset: 0, message: "a path with no steps would ignore the whole body; name a field ($.meta.requestId)")
        }
        self.steps = steps
    }

    /// True when `path` is this pattern's path or lies below it.
    public func matches(_ path: [Step]) -> Bool {
        guard path.count >= steps.count else { return false }
        for (pattern, step) in zip(steps, path) {
            switch (pattern, step) {
            case (.anyKey, .key), (.anyIndex, .index), (.anyIndex, .anyIndex): continue
            case (.key(let a), .key(let b)) where a == b: continue
            case (.index(let a), .index(let b)) where a == b: continue
            default: return false
            }
        }
        return true
    }

    public var description: String { Self.text(steps) }

    /// The text of a path: `.NAME` when the name is plain, `["NAME"]` otherwise.
    public static func text(_ steps: [Step]) -> String {
        var out = "$"
        for step in steps {
            switch step {
            case .key(let name):
                let plain = !name.isEmpty && name.unicodeScalars.allSatisfy {
                    $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" || $0 == "$" || $0 == "@"
                }
                if plain { out += "." + name } else {
                    var escaped = ""
                    for c in name.unicodeScalars {
                        if c == "\\" || c == "\"" { escaped.append("\\") }
                        // A control byte would reach a terminal or a log as is (`ESC[31m`).
                        if c.value < 0x20 || c.value == 0x7F {
                            let hex = String(c.value, radix: 16)
                            escaped += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                        } else {
                            escaped.unicodeScalars.append(c)
                        }
                    }
                    out += "[\"" + escaped + "\"]"
                }
            case .anyKey: out += ".*"
            case .index(let n): out += "[\(n)]"
            case .anyIndex: out += "[*]"
            }
        }
        return out
    }
}
