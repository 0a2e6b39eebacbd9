import Glibc
import Synchronization
import SwitchyardSystem

/// The error log: one line per event worth an operator's attention. Shared by all threads
/// behind a lock; it is written on failures, never per successful request.
public final class ErrorLog: Sendable {
    private let fd: Mutex<FileDescriptor>

    /// Standard error, or a file opened for appending.
    public init(path: String?) throws(Errno) {
        if let path {
            fd = Mutex(try AccessLog.open(path: path))
        } else {
            fd = Mutex(FileDescriptor(rawValue: 2))
        }
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
