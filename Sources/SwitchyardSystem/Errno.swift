import Glibc

/// A failed system call: which call, and the errno it set.
public struct Errno: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: Int32
    public let call: String

    public init(code: Int32, call: String) {
        self.code = code
        self.call = call
    }

    public var description: String {
        "\(call): \(String(cString: strerror(code)))"
    }

    /// Errors that mean "the peer went away", which is routine for a proxy.
    public var isPeerGone: Bool {
        code == ECONNRESET || code == EPIPE || code == ECONNABORTED || code == ENOTCONN
    }
}
