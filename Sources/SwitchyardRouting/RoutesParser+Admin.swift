/// The admin line's options other than `allow`.
extension RoutesParser {
    static let adminUsage = "admin PATH [allow group NAME | allow user NAME | allow uid N]... [require-reason]"

    /// Reads the option at `tokens[i]` into `config`; the index after it, or nil after
    /// reporting an error (the rest of the line is then not read).
    mutating func adminOption(_ tokens: [RoutesToken], at i: Int, into config: inout AdminConfig) -> Int? {
        let option = tokens[i]
        switch option.text {
        case "require-reason":
            guard !config.requireReason else {
                error(option, "duplicate require-reason")
                return nil
            }
            config.requireReason = true
            return i + 1
        default:
            error(option, "unexpected \"\(option.text)\" (usage: \(Self.adminUsage))")
            return nil
        }
    }
}
