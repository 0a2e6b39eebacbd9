import SwitchyardSystem

/// What `Proxy.reopenLogs` did: the files opened again, and the ones that could not be
/// (those keep writing where they did).
public struct LogReopening: Sendable {
    /// "access log /var/log/switchyard/access.log", "error log …".
    public var reopened: [String] = []
    /// "access log /var/log/switchyard/access.log: open(…): Permission denied".
    public var failures: [String] = []
    public var ok: Bool { failures.isEmpty }

    /// One line for the admin answer and the error log.
    public var summary: String {
        if reopened.isEmpty && failures.isEmpty { return "no log file to reopen (access log off, error log on standard error)" }
        var parts: [String] = []
        if !reopened.isEmpty { parts.append("reopened " + reopened.joined(separator: " and ")) }
        if !failures.isEmpty { parts.append("could not reopen " + failures.joined(separator: "; ") + " (still writing to the old file)") }
        return parts.joined(separator: "; ")
    }
}

extension Proxy {
    /// Reopens the access and error logs at their paths, for logrotate (`postrotate kill
    /// -USR1`) and `switchyard reopen-logs`: the error log is swapped under its own lock;
    /// the access log is opened once here (O_APPEND|O_CLOEXEC, 0640), then every worker, on
    /// its loop thread through the cross-thread task queue, writes out its buffered lines to
    /// the old file and switches — so no line is lost or split between files and the request
    /// path takes no lock — and the old descriptor is closed once all have switched.
    ///
    /// The files are opened by the process as it runs now: after `user NAME`, that user
    /// must be able to create the file in its directory (or logrotate's `create` makes it).
    public func reopenLogs() -> LogReopening {
        control.lock()
        defer { control.unlock() }
        var result = LogReopening()
        if let path = errorLog.path {
            do {
                try errorLog.reopen()
                result.reopened.append("error log \(path)")
            } catch {
                result.failures.append("error log \(path): \(error)")
            }
        }
        if let path = accessLogPath, let old = accessLogFD {
            do {
                let new = try AccessLog.open(path: path)
                _ = onEveryWorker { $0.accessLog?.reopen(new) }
                accessLogFD = new
                old.close()
                result.reopened.append("access log \(path)")
            } catch {
                result.failures.append("access log \(path): \(error)")
            }
        }
        return result
    }
}
