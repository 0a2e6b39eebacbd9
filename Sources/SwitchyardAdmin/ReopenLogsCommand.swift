import SwitchyardProxy

extension AdminCommands {
    /// `reopen-logs`: the same as SIGUSR1. It changes no routing state, so it is not an
    /// audited change: like the read-only commands anyone who may open the socket may ask,
    /// and the error log (the new file) says who did.
    static func reopenLogs(_ service: AdminService, _ caller: Caller) -> AdminAnswer {
        let result = service.dataPlane.reopenLogs()
        let line = "\(result.summary) (reopen-logs by \(caller.userName), uid \(caller.uid), pid \(caller.pid))"
        if result.ok { service.errorLog.info(line) } else { service.errorLog.error(line) }
        let json: [String: Any] = ["reopened": result.reopened, "failures": result.failures]
        return result.ok ? .success(result.summary, json: json) : .failure(AdminError(result.summary))
    }
}
