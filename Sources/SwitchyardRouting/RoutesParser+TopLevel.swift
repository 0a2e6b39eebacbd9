extension RoutesParser {
    static let topLevelDirectives = ["listen", "admin", "user", "state", "access-log", "error-log", "generation-header", "metrics", "trust-forwarded", "timeout", "limit", "fleet", "backend", "route", "notify", "plan"]

    mutating func topLevelDirective(_ tokens: [RoutesToken]) {
        let keyword = tokens[0]
        switch keyword.text {
        case "listen":
            listenDirective(tokens)
        case "admin":
            adminDirective(tokens)
        case "user":
            userDirective(tokens)
        case "state":
            guard !rejectDuplicate(keyword, firstLine: seenOnce["state"]),
                  expectArguments(tokens, 1...1, usage: "state PATH") else { return }
            seenOnce["state"] = keyword.line
            statePath = tokens[1].text
        case "access-log":
            guard !rejectDuplicate(keyword, firstLine: seenOnce["access-log"]),
                  expectArguments(tokens, 1...1, usage: "access-log PATH|off") else { return }
            seenOnce["access-log"] = keyword.line
            accessLogPath = tokens[1].text == "off" ? nil : tokens[1].text
        case "error-log":
            guard !rejectDuplicate(keyword, firstLine: seenOnce["error-log"]),
                  expectArguments(tokens, 1...1, usage: "error-log PATH|stderr") else { return }
            seenOnce["error-log"] = keyword.line
            errorLogPath = tokens[1].text == "stderr" ? nil : tokens[1].text
        case "generation-header":
            guard !rejectDuplicate(keyword, firstLine: seenOnce["generation-header"]),
                  expectArguments(tokens, 1...1, usage: "generation-header NAME") else { return }
            seenOnce["generation-header"] = keyword.line
            if isHTTPToken(tokens[1].text) {
                generationHeader = tokens[1].text
            } else {
                error(tokens[1], "bad header name \"\(tokens[1].text)\"")
            }
        case "metrics":
            guard !rejectDuplicate(keyword, firstLine: seenOnce["metrics"]),
                  expectArguments(tokens, 1...1, usage: "metrics ADDR:PORT") else { return }
            seenOnce["metrics"] = keyword.line
            switch parseListenEndpoint(tokens[1].text) {
            case .value(let endpoint):
                metrics = endpoint
                metricsToken = tokens[1]
            case .problem(let message): error(tokens[1], message)
            }
        case "trust-forwarded":
            guard !rejectDuplicate(keyword, firstLine: seenOnce["trust-forwarded"]),
                  expectArguments(tokens, 1...Int.max - 1, usage: "trust-forwarded CIDR [CIDR...]") else { return }
            seenOnce["trust-forwarded"] = keyword.line
            trustForwarded = tokens.dropFirst().compactMap { cidr($0) }
        case "notify":
            notifyDirective(tokens)
        case "timeout":
            timeoutDirective(tokens)
        case "limit":
            limitDirective(tokens)
        case "fleet":
            fleetDirective(tokens)
        case "server", "health":
            unknownDirective(keyword, scope: "at top level", known: Self.topLevelDirectives,
                             hint: "\(keyword.text) belongs inside a backend block")
        case "mode", "host", "path", "active", "split", "sticky", "cohort", "max-body", "failover":
            unknownDirective(keyword, scope: "at top level", known: Self.topLevelDirectives,
                             hint: "\(keyword.text) belongs inside a route block")
        default:
            unknownDirective(keyword, scope: "at top level", known: Self.topLevelDirectives)
        }
    }

    private mutating func timeoutDirective(_ tokens: [RoutesToken]) {
        let usage = "timeout header|keep-alive|connect|upstream|tunnel|upstream-keep-alive DURATION"
        guard expectArguments(tokens, 2...2, usage: usage) else { return }
        let name = tokens[1]
        guard !rejectDuplicate(tokens[0], firstLine: seenOnce["timeout " + name.text]) else { return }
        guard let duration = value(parseDuration(tokens[2].text), at: tokens[2]) else { return }
        guard duration > 0 else { error(tokens[2], "a timeout must be longer than 0"); return }
        switch name.text {
        case "header": tuning.headerTimeoutMilliseconds = duration
        case "keep-alive": tuning.keepAliveTimeoutMilliseconds = duration
        case "connect": tuning.connectTimeoutMilliseconds = duration
        case "upstream": tuning.upstreamTimeoutMilliseconds = duration
        case "tunnel": tuning.tunnelTimeoutMilliseconds = duration
        case "upstream-keep-alive": tuning.upstreamKeepAliveMilliseconds = duration
        default:
            error(name, "unknown timeout \"\(name.text)\" (known: \(TuningConfig.timeoutNames.joined(separator: ", ")))")
            return
        }
        seenOnce["timeout " + name.text] = tokens[0].line
    }

    private mutating func limitDirective(_ tokens: [RoutesToken]) {
        let usage = "limit request-line|header-bytes SIZE | limit header-count|connections|idle-per-server N | limit min-body-rate SIZE"
        guard expectArguments(tokens, 2...2, usage: usage) else { return }
        let name = tokens[1]
        guard !rejectDuplicate(tokens[0], firstLine: seenOnce["limit " + name.text]) else { return }
        switch name.text {
        case "hold-bytes", "hold-body":
            guard let size = value(parseSize(tokens[2].text), at: tokens[2]) else { return }
            // Bounded: the share per worker is computed from it, and memory past this is fiction.
            guard size <= TuningConfig.maxHoldBytes else {
                error(tokens[2], "\(name.text) must be at most 1024g")
                return
            }
            if name.text == "hold-bytes" { tuning.holdBytes = size } else { tuning.holdBody = size }
        case "hold-parked", "hold-per-connection":
            guard let n = UInt64(tokens[2].text), n <= 1_000_000 else {
                error(tokens[2], "\"\(tokens[2].text)\" is not a whole number from 0 to 1000000")
                return
            }
            if name.text == "hold-parked" { tuning.holdParked = n } else { tuning.holdPerConnection = n }
        case "request-line", "header-bytes", "min-body-rate":
            guard let size = value(parseSize(tokens[2].text), at: tokens[2]) else { return }
            if name.text == "min-body-rate" {
                // Bounded so that rate × window stays far from overflow on the request path.
                guard size <= TuningConfig.maxMinBodyBytesPerSecond else {
                    error(tokens[2], "min-body-rate must be at most 1g (bytes per second a body must keep up)")
                    return
                }
                tuning.minBodyBytesPerSecond = size
            } else {
                guard size >= 256, size <= TuningConfig.maxHeadBytes else {
                    error(tokens[2], "\(name.text) must be between 256 and 60k (a head fits in one 64 KiB buffer)")
                    return
                }
                if name.text == "request-line" { tuning.maxRequestLineBytes = size } else { tuning.maxHeaderBytes = size }
            }
        case "header-count", "connections", "idle-per-server":
            guard let n = UInt64(tokens[2].text), n > 0, n <= 1_000_000 else {
                error(tokens[2], "\"\(tokens[2].text)\" is not a whole number from 1 to 1000000")
                return
            }
            switch name.text {
            case "header-count": tuning.maxHeaderCount = n
            case "connections": tuning.maxConnectionsPerWorker = n
            default: tuning.maxIdlePerServer = n
            }
        default:
            error(name, "unknown limit \"\(name.text)\" (known: \(TuningConfig.limitNames.joined(separator: ", ")))")
            return
        }
        seenOnce["limit " + name.text] = tokens[0].line
    }

    private mutating func listenDirective(_ tokens: [RoutesToken]) {
        let usage = "listen http ADDR:PORT [h2c] [name NAME] [proxy-protocol] [trust-forwarded CIDR...] | listen https ADDR:PORT cert PATH key PATH [chain PATH] [client-ca PATH] [http1]"
        sawListenLine = true
        guard expectArguments(tokens, 2...40, usage: usage) else { return }
        let kindToken = tokens[1]
        let kind: ListenerKind
        switch kindToken.text {
        case "http": kind = .http
        case "https": kind = .https
        case "tcp":
            error(kindToken, "tcp listeners belong to their route: write `mode tcp` and `listen ADDR:PORT` inside a route block")
            return
        default:
            error(kindToken, "unknown listener kind \"\(kindToken.text)\" (expected http or https)")
            return
        }
        let endpoint = value(parseListenEndpoint(tokens[2].text), at: tokens[2])
        var listener = ListenerConfig(kind: kind, endpoint: endpoint ?? Endpoint(host: "", port: 0), line: tokens[0].line)
        var ok = endpoint != nil
        if kind == .http {
            var i = 3
            while i < tokens.count {
                let option = tokens[i]
                if let next = sharedListenOption(tokens, at: i, into: &listener, ok: &ok) {
                    i = next
                } else if option.text == "h2c" && !listener.h2c {
                    listener.h2c = true
                    i += 1
                } else {
                    error(option, "unexpected argument \"\(option.text)\" (listen http takes h2c, name NAME, proxy-protocol and trust-forwarded CIDR...; cert/key/chain are for listen https)")
                    ok = false
                    break
                }
            }
        } else {
            var i = 3
            while i < tokens.count {
                let option = tokens[i]
                if let next = sharedListenOption(tokens, at: i, into: &listener, ok: &ok) {
                    i = next
                    continue
                }
                if option.text == "http1" {
                    if listener.http1Only {
                        error(option, "duplicate http1")
                        ok = false
                    }
                    listener.http1Only = true
                    i += 1
                    continue
                }
                guard ["cert", "key", "chain", "client-ca"].contains(option.text) else {
                    error(option, "unknown listen https option \"\(option.text)\" (expected cert, key, chain, client-ca, http1, name, proxy-protocol or trust-forwarded)")
                    ok = false
                    break
                }
                guard i + 1 < tokens.count else {
                    error(option, "missing path after \(option.text)")
                    ok = false
                    break
                }
                let path = tokens[i + 1].text
                let already: String?
                switch option.text {
                case "cert": already = listener.certPath; listener.certPath = path
                case "key": already = listener.keyPath; listener.keyPath = path
                case "client-ca": already = listener.clientCAPath; listener.clientCAPath = path
                default: already = listener.chainPath; listener.chainPath = path
                }
                if already != nil {
                    error(option, "duplicate \(option.text)")
                    ok = false
                }
                i += 2
            }
            if ok && (listener.certPath == nil || listener.keyPath == nil) {
                error(kindToken, "listen https needs cert PATH and key PATH")
                ok = false
            }
        }
        if ok {
            listeners.append(listener)
            listenerTokens.append(tokens[2])
        }
    }

    /// The options both listener kinds take (`name`, `trust-forwarded`, `proxy-protocol`),
    /// each at most once. Returns the index after the option, or nil when `tokens[at]` is
    /// none of them.
    private mutating func sharedListenOption(_ tokens: [RoutesToken], at: Int, into listener: inout ListenerConfig,
                                             ok: inout Bool) -> Int? {
        let option = tokens[at]
        let seen: Bool
        switch option.text {
        case "name": seen = listener.name != nil
        case "trust-forwarded": seen = listener.trustForwarded != nil
        case "proxy-protocol": seen = listener.proxyProtocol
        default: return nil
        }
        if seen {
            error(option, "duplicate \(option.text)")
            ok = false
        }
        switch option.text {
        case "name": return nameOption(tokens, at: at, into: &listener, ok: &ok)
        case "trust-forwarded": return trustForwardedOption(tokens, at: at, into: &listener, ok: &ok)
        default:
            listener.proxyProtocol = true
            return at + 1
        }
    }

    /// `name NAME` on a listen line: a word routes can refer to, unique in the file.
    private mutating func nameOption(_ tokens: [RoutesToken], at: Int, into listener: inout ListenerConfig,
                                     ok: inout Bool) -> Int {
        guard at + 1 < tokens.count else {
            error(tokens[at], "missing listener name after name")
            ok = false
            return at + 1
        }
        let name = tokens[at + 1]
        if !isHTTPToken(name.text) || name.text.contains(":") {
            error(name, "bad listener name \"\(name.text)\" (letters, digits, '-', '_')")
            ok = false
        } else if let other = listeners.first(where: { $0.name == name.text }) {
            error(name, "listener name \"\(name.text)\" is already used on line \(other.line)")
            ok = false
        }
        listener.name = name.text
        return at + 2
    }

    /// `trust-forwarded CIDR [CIDR...]` on a listen line, starting at `tokens[at]`: takes the
    /// networks up to the next word that is not one. Returns the index after them.
    private mutating func trustForwardedOption(_ tokens: [RoutesToken], at: Int, into listener: inout ListenerConfig,
                                               ok: inout Bool) -> Int {
        var i = at + 1
        var networks: [CIDR] = []
        // A network starts with a digit (IPv4) or has a ':' (IPv6); option words do neither.
        while i < tokens.count, let first = tokens[i].text.utf8.first, (first >= 0x30 && first <= 0x39) || tokens[i].text.contains(":") {
            if let network = cidr(tokens[i]) { networks.append(network) } else { ok = false }
            i += 1
        }
        if i == at + 1 {
            error(tokens[at], "trust-forwarded needs at least one CIDR (e.g. 10.0.0.0/8)")
            ok = false
        }
        listener.trustForwarded = networks
        return i
    }

    private mutating func adminDirective(_ tokens: [RoutesToken]) {
        let keyword = tokens[0]
        let usage = Self.adminUsage
        guard !rejectDuplicate(keyword, firstLine: seenOnce["admin"]),
              expectArguments(tokens, 1...Int.max - 1, usage: usage) else { return }
        seenOnce["admin"] = keyword.line
        var config = AdminConfig(socketPath: tokens[1].text)
        var i = 2
        while i < tokens.count {
            guard tokens[i].text == "allow" else {
                // The options other than allow: RoutesParser+Admin.swift.
                guard let next = adminOption(tokens, at: i, into: &config) else { return }
                i = next
                continue
            }
            guard i + 2 < tokens.count else {
                error(tokens[i], "incomplete allow (expected allow group NAME, allow user NAME or allow uid N)")
                return
            }
            let what = tokens[i + 1], who = tokens[i + 2]
            switch what.text {
            case "group": config.allowGroups.append(who.text)
            case "user": config.allowUsers.append(who.text)
            case "uid":
                guard let uid = value(parseInteger(who.text, in: 0...Int(UInt32.max), what: "uid"), at: who) else { return }
                config.allowUIDs.append(UInt32(uid))
            default:
                error(what, "unknown allow kind \"\(what.text)\" (expected group, user or uid)")
                return
            }
            i += 3
        }
        admin = config
    }
}
