import Foundation
@testable import SwitchyardProxy

/// The CPU a proxy's first worker thread has used, in clock ticks (user + system, 100 a
/// second, from /proc): a worker spinning on an event it cannot act on shows as about 100 a
/// second, an idle one as about none — a difference no loaded machine blurs.
struct WorkerThreadCPU {
    let thread: Int32

    init(_ proxy: Proxy) throws {
        // /proc/thread-self, read on the worker's own thread, is "PID/task/TID".
        let link = proxy.onFirstWorker { _ in (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? "" }
        guard let thread = Int32(link.split(separator: "/").last ?? "") else { throw TestFailure("no worker thread id in \(link)") }
        self.thread = thread
    }

    var ticks: Int {
        guard let stat = try? String(contentsOfFile: "/proc/self/task/\(thread)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        // After the name: state is field 3, utime 14 and stime 15 (proc(5)).
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return 0 }
        return user + system
    }

    /// Ticks used over `seconds` of wall time.
    func used(over seconds: Double) -> Int {
        let before = ticks
        usleep(UInt32(seconds * 1_000_000))
        return ticks - before
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
