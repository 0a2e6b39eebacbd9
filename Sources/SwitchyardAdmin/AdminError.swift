/// A refused admin command: one line a person can act on. Nothing changed.
public struct AdminError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
