/// The lines a running proxy reads once, at start: what a reload that changes them says.
extension RoutesConfig {
    /// One text per start-only line that differs between `running` and this file: the
    /// admin line (but `require-reason`, which a reload applies), `metrics`, `fleet`,
    /// `user`, `state`, `access-log`, `error-log` and the `limit` / `timeout` lines. A reload
    /// applies everything else; these wait for the next start or `upgrade`, and saying so
    /// is better than an operator believing a new `allow group` is in force.
    public func startOnlyChanges(from running: RoutesConfig) -> [String] {
        var changed: [String] = []
        var admin = admin, runningAdmin = running.admin
        admin?.requireReason = false
        runningAdmin?.requireReason = false
        if admin != runningAdmin { changed.append("admin") }
        if metrics != running.metrics { changed.append("metrics") }
        if fleet != running.fleet { changed.append("fleet") }
        if serviceUser != running.serviceUser { changed.append("user") }
        if statePath != running.statePath { changed.append("state") }
        if accessLogPath != running.accessLogPath { changed.append("access-log") }
        if errorLogPath != running.errorLogPath { changed.append("error-log") }
        if tuning != running.tuning { changed.append("limit/timeout") }
        return changed.map { "the \($0) line changed: it takes effect at the next start (or `upgrade`), not with this reload" }
    }
}
