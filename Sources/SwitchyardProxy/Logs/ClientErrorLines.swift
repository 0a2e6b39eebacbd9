/// A worker's budget of error-log lines about misbehaving clients: at most `perSecond`, so
/// an attacker opening bad connections cannot fill the disk; the rest are counted (`status`
/// shows the totals) and summed up in the next line that is written.
struct ClientErrorLines {
    static let perSecond = 10
    private var second: UInt64 = 0
    private var written = 0
    private var leftOut = 0

    /// The line to write for `message` in `second` (with the lines left out before it), or
    /// nil when this second's budget is spent and the line is only counted.
    mutating func admit(_ message: () -> String, second now: UInt64) -> String? {
        if now != second {
            second = now
            written = 0
        }
        guard written < Self.perSecond else {
            leftOut += 1
            return nil
        }
        written += 1
        var line = message()
        if leftOut > 0 {
            line += " (\(leftOut) similar lines left out)"
            leftOut = 0
        }
        return line
    }
}
