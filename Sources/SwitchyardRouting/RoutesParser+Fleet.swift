/// The `fleet` line.
extension RoutesParser {
    static let fleetUsage = "fleet NAME etcd URL [URL...] [user NAME password-file PATH] [instance NAME]"

    mutating func fleetDirective(_ tokens: [RoutesToken]) {
        let keyword = tokens[0]
        guard !rejectDuplicate(keyword, firstLine: seenOnce["fleet"]),
              expectArguments(tokens, 3...Int.max - 1, usage: Self.fleetUsage) else { return }
        seenOnce["fleet"] = keyword.line
        let name = tokens[1]
        guard isPlainName(name.text) else {
            error(name, "bad fleet name \"\(name.text)\" (use letters, digits, '-', '_', '.')")
            return
        }
        guard tokens[2].text == "etcd" else {
            error(tokens[2], "expected etcd after the fleet name (usage: \(Self.fleetUsage))")
            return
        }
        var config = FleetConfig(name: name.text, endpoints: [])
        var i = 3
        // URLs run up to the first option word.
        while i < tokens.count, tokens[i].text.contains("://") {
            // Credentials in the URL would be printed at every start, in errors, in `status`
            // and in the fleet's own records: refused, without echoing them.
            if tokens[i].text.contains("@") {
                error(tokens[i], "an etcd URL must not carry credentials (user:password@): use user NAME password-file PATH")
                return
            }
            guard let endpoint = FleetEndpoint(url: tokens[i].text) else {
                error(tokens[i], "bad etcd URL \"\(tokens[i].text)\" (expected http://HOST:PORT; the JSON gateway is plain HTTP)")
                return
            }
            config.endpoints.append(endpoint)
            i += 1
        }
        guard !config.endpoints.isEmpty else {
            error(i < tokens.count ? tokens[i] : tokens[2], "fleet needs at least one etcd URL like http://127.0.0.1:2379")
            return
        }
        while i < tokens.count {
            let option = tokens[i]
            guard ["user", "password-file", "instance"].contains(option.text) else {
                error(option, "unexpected \"\(option.text)\" (usage: \(Self.fleetUsage))")
                return
            }
            guard i + 1 < tokens.count else {
                error(option, "missing value after \(option.text)")
                return
            }
            let value = tokens[i + 1]
            let already: String?
            switch option.text {
            case "user": already = config.user; config.user = value.text
            case "password-file": already = config.passwordFile; config.passwordFile = value.text
            default:
                already = config.instance
                guard isPlainName(value.text) else {
                    error(value, "bad instance name \"\(value.text)\" (use letters, digits, '-', '_', '.')")
                    return
                }
                config.instance = value.text
            }
            if already != nil {
                error(option, "duplicate \(option.text)")
                return
            }
            i += 2
        }
        if (config.user == nil) != (config.passwordFile == nil) {
            error(keyword, "fleet: user and password-file go together")
            return
        }
        fleet = config
    }
}
