import Foundation
import Glibc

/// The standard `process_*` figures Prometheus' client libraries export, read from /proc
/// (proc(5)) at scrape time.
struct ProcessFigures {
    var startTimeSeconds: Double = 0
    var cpuSeconds: Double = 0
    var residentBytes: Double = 0
    var virtualBytes: Double = 0
    var openFDs: Int = 0
    var maxFDs: Double = 0

    static func read() -> ProcessFigures {
        var figures = ProcessFigures()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after "comm)": state is field 3, so index 0 here is field 3.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 21 {
                let user = Double(fields[11]) ?? 0, system = Double(fields[12]) ?? 0
                figures.cpuSeconds = (user + system) / ticks
                figures.virtualBytes = Double(fields[20]) ?? 0
                figures.residentBytes = (Double(fields[21]) ?? 0) * page
                let startTicks = Double(fields[19]) ?? 0
                figures.startTimeSeconds = bootTime() + startTicks / ticks
            }
        }
        figures.openFDs = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { figures.maxFDs = Double(limit.rlim_cur) }
        return figures
    }

    /// Seconds since the epoch at boot ("btime" in /proc/stat).
    private static func bootTime() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }
}
