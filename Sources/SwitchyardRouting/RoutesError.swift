/// One problem found in a routes file (or in the runtime state applied to it).
///
/// `line` and `column` are 1-based and point at the offending token. A problem that has no
/// position (the file cannot be read, a runtime-state entry) has `line == 0 && column == 0`
/// and its description leaves the position out.
public struct RoutesError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `file:line:column: message`, the form editors and CI logs turn into links.
    public var description: String {
        if line == 0 && column == 0 {
            return "\(file): \(message)"
        }
        return "\(file):\(line):\(column): \(message)"
    }
}

/// Every problem found in one routes file, in file order. Never empty when thrown.
public struct RoutesErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [RoutesError]

    public init(_ errors: [RoutesError]) {
        self.errors = errors
    }

    /// One problem a line.
    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
