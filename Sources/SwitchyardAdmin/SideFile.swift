import Foundation
import SwitchyardProxy

/// Files kept beside the state file that only speed things up or keep history (the
/// inventory, the decision log, the mirror comparison): read at start, and when one cannot
/// be read or decoded the proxy starts without it — one error-log line, the damaged file
/// renamed aside (`PATH.damaged-UNIXTIME`) so that nobody loses it and the next save does
/// not fail on it. Never a reason not to start.
enum SideFile {
    /// A file that reads but does not decode as what it should be.
    struct Damaged: Error, CustomStringConvertible {
        let description: String
    }

    /// `decode(bytes)` of the file at `path`, or nil when there is none or it is unusable
    /// (`what` names it in the log line; `empty` says what the proxy starts with instead).
    static func load<T>(_ path: String, what: String, empty: String, errorLog: ErrorLog,
                        _ decode: ([UInt8]) throws -> T) -> T? {
        let bytes: [UInt8]
        do {
            guard let read = try DurableFile.read(path, what: what) else { return nil }
            bytes = read
        } catch {
            errorLog.error("\(error.message); starting with \(empty)")
            return nil
        }
        do {
            return try decode(bytes)
        } catch {
            let aside = path + ".damaged-\(Int(Date().timeIntervalSince1970))"
            let moved = rename(path, aside) == 0
            errorLog.error("\(what) \(path) is damaged (\(error)); \(moved ? "kept as \(aside)" : "left in place (cannot rename it)"), starting with \(empty)")
            return nil
        }
    }
}
