/// The admin line's options other than `allow`, and the `user` line.
extension RoutesParser {
    /// `user NAME`: whom `serve` runs as after binding. The name is resolved when the proxy
    /// starts (the file may be checked on another host).
    mutating func userDirective(_ tokens: [RoutesToken]) {
        let keyword = tokens[0]
        guard !rejectDuplicate(keyword, firstLine: seenOnce["user"]),
              expectArguments(tokens, 1...1, usage: "user NAME") else { return }
        seenOnce["user"] = keyword.line
        let name = tokens[1]
        guard isPlainName(name.text) else {
            error(name, "bad user name \"\(name.text)\" (use letters, digits, '-', '_', '.')")
            return
        }
        serviceUser = name.text
    }

    static let adminUsage = "admin PATH [allow group NAME | allow user NAME | allow uid N]... [require-reason] [max-connections N] [max-connections-per-uid N] [idle-timeout DURATION]"

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
        case "max-connections", "max-connections-per-uid", "idle-timeout":
            guard !rejectDuplicate(option, firstLine: seenOnce["admin " + option.text]) else { return nil }
            seenOnce["admin " + option.text] = option.line
            guard i + 1 < tokens.count else {
                error(option, "missing value after \(option.text)")
                return nil
            }
            let value = tokens[i + 1]
            if option.text == "idle-timeout" {
                guard let duration = self.value(parseDuration(value.text), at: value) else { return nil }
                config.idleTimeoutMilliseconds = duration
            } else {
                guard let n = self.value(parseInteger(value.text, in: 1...10_000, what: option.text), at: value) else { return nil }
                if option.text == "max-connections" { config.maxConnections = n } else { config.maxConnectionsPerUID = n }
            }
            return i + 2
        default:
            error(option, "unexpected \"\(option.text)\" (usage: \(Self.adminUsage))")
            return nil
        }
    }
}
