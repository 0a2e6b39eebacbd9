import Glibc
import SwitchyardSystem

/// The error log: one line per event worth an operator's attention. Shared by all threads
/// behind a lock; it is written on failures, never per successful request.
public final class ErrorLog: Sendable {
    private let fd: Locked<FileDescriptor>
    /// The file's path; nil for standard error (which is never reopened).
    public let path: String?

    /// Standard error, or a file opened for appending.
    public init(path: String?) throws(Errno) {
        self.path = path
        if let path {
            fd = Locked(try AccessLog.open(path: path))
        } else {
            fd = Locked(FileDescriptor(rawValue: 2))
        }
    }

    /// Opens the path again (after logrotate renamed the file) and writes there from now on;
    /// the old descriptor is closed once no line is being written to it. Standard error:
    /// nothing to do. A failure leaves the log writing where it did.
    public func reopen() throws(Errno) {
        guard let path else { return }
        let new = try AccessLog.open(path: path)
        let old = fd.withLock { fd in
            let old = fd
            fd = new
            return old
        }
        old.close()
    }

    public static let standardError = try! ErrorLog(path: nil)

    public func log(_ level: StaticString, _ message: String) {
        let seconds = Int64(Clock.wallMicroseconds() / 1_000_000)
        let (y, mo, d, s) = civil(seconds)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let line = "\(y)-\(two(mo))-\(two(d))T\(two(s / 3600)):\(two(s / 60 % 60)):\(two(s % 60))Z \(level) \(message)\n"
        fd.withLock { fd in
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { try? fd.writeAll(UnsafeRawBufferPointer($0)) }
        }
    }

    public func error(_ message: String) { log("error", message) }
    public func warning(_ message: String) { log("warning", message) }
    public func info(_ message: String) { log("info", message) }
}
