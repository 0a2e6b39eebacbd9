import SwitchyardRouting

/// Structural comparison of two JSON documents: object key order is ignored, arrays are
/// compared in order, numbers by value. The result is the set of field paths that differ,
/// with array indices folded to `[*]` (so `$.items[3].ts` and `$.items[7].ts` are one path
/// to count), sorted. Subtrees an ignore pattern matches are skipped; patterns are matched
/// against the real keys, before folding.
///
/// Object keys are folded too, because a map may be keyed by what it holds (a patient's
/// name, a record number, an e-mail) and paths end up in the report, /status.json and the
/// saved book: a key that is not name-like (anything but ASCII letters, digits, `_`, `-`,
/// `.`; empty; over 64 bytes) is written `{key}`, a name-like one that looks like an id
/// (the endpoint template's rule: digits, a UUID, letters and digits over 8+ bytes, …;
/// over 32 bytes: any digit) `{id}`. No control byte or person's name with a space can reach a path this way.
///
/// What is reported where: a key present on one side only — its path; a value or type that
/// differs — its path; arrays of different lengths — the array's path, after the elements
/// both have were compared.
struct JSONDifference {
    /// At most this many distinct paths are reported for one pair (a wholly different
    /// document would otherwise name every field).
    static let maxPaths = 32

    let ignored: [JSONPathPattern]
    private(set) var paths: Set<String> = []
    private var concrete: [JSONPathPattern.Step] = []

    static func paths(_ a: JSONValue, _ b: JSONValue, ignoring ignored: [JSONPathPattern]) -> [String] {
        var walk = JSONDifference(ignored: ignored)
        walk.compare(a, b)
        return walk.paths.sorted()
    }

    private init(ignored: [JSONPathPattern]) { self.ignored = ignored }

    private var isIgnored: Bool { ignored.contains { $0.matches(concrete) } }

    private mutating func report() {
        guard paths.count < Self.maxPaths, !isIgnored else { return }
        var text = "$"
        for step in concrete {
            switch step {
            case .index, .anyIndex: text += "[*]"
            case .key(let name):
                // A dotted key is quoted so that `a.b` is not read as two steps.
                let shown = Self.fold(key: name)
                text += shown.contains(".") ? "[\"" + shown + "\"]" : "." + shown
            case .anyKey: text += ".*"
            }
        }
        paths.insert(text)
    }

    /// A key as a path shows it: itself when it is a plain name, else `{id}` or `{key}`.
    static func fold(key: String) -> String {
        let bytes = Array(key.utf8)
        let nameLike = !bytes.isEmpty && bytes.count <= 64 && bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
        }
        if !nameLike { return "{key}" }
        // Past 32 bytes the segment rule folds everything; a long field name
        // (`emergencyContactPhoneNumberSecondary`) is kept unless it holds a digit.
        if bytes.count > 32 { return bytes.contains { $0 >= 0x30 && $0 <= 0x39 } ? "{id}" : key }
        return bytes.withUnsafeBytes { EndpointTemplate.isIdentifier($0) } ? "{id}" : key
    }

    private mutating func compare(_ a: JSONValue, _ b: JSONValue) {
        if isIgnored || paths.count >= Self.maxPaths { return }
        switch (a, b) {
        case (.object(let x), .object(let y)):
            // Both sorted by key: one merge walk, no hashing.
            var i = 0, j = 0
            while i < x.count || j < y.count {
                if j == y.count || (i < x.count && x[i].key < y[j].key) {
                    concrete.append(.key(x[i].key)); report(); concrete.removeLast()
                    i += 1
                } else if i == x.count || y[j].key < x[i].key {
                    concrete.append(.key(y[j].key)); report(); concrete.removeLast()
                    j += 1
                } else {
                    concrete.append(.key(x[i].key)); compare(x[i].value, y[j].value); concrete.removeLast()
                    i += 1
                    j += 1
                }
            }
        case (.array(let x), .array(let y)):
            for index in 0..<min(x.count, y.count) {
                concrete.append(.index(index))
                compare(x[index], y[index])
                concrete.removeLast()
            }
            if x.count != y.count { report() }
        case (.number(let x), .number(let y)):
            if !JSONValue.sameNumber(x, y) { report() }
        case (.string(let x), .string(let y)):
            // Byte for byte: Swift's `==` takes canonically equivalent text as equal ("José"
            // precomposed and decomposed), which a patient-matching system does not.
            if !x.utf8.elementsEqual(y.utf8) { report() }
        default:
            if a != b { report() }
        }
    }
}
