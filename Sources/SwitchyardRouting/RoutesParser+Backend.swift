/// A backend block as read so far; checked and turned into a `BackendConfig` by `finish()`.
struct BackendDraft {
    var keyword: RoutesToken
    /// Empty text when the header had no name (already reported).
    var name: RoutesToken
    var servers: [ServerConfig] = []
    var health: HealthCheckConfig?
    var healthLine: Int?
    /// A server line was seen, even one with a problem (see `RouteDraft.sawSideLine`).
    var sawServerLine = false
    /// `sandbox`: a mirror may send this backend any method (see `BackendConfig.sandbox`).
    var sandbox = false
}

extension RoutesParser {
    static let backendDirectives = ["server", "health", "sandbox"]
    /// See `backendDirective`: the width of a request's tried-servers word.
    static let maxServersPerBackend = 64

    mutating func backendDirective(_ tokens: [RoutesToken], backend index: Int) {
        let keyword = tokens[0]
        switch keyword.text {
        case "server":
            backends[index].sawServerLine = true
            guard let server = serverDirective(tokens) else { return }
            // One pool per address in a backend: a second line for it would silently double
            // its weight, or give it two TLS setups of which the last wins.
            if let first = backends[index].servers.first(where: { $0.endpoint == server.endpoint }) {
                error(tokens[1], "server \(server.endpoint) is listed twice in this backend (first at line \(first.line)): give it one line, with its weight")
                return
            }
            // A request's failover marks the servers it tried in one 64-bit word: a 65th
            // would share a mark with the 1st, and be taken for tried when it was not.
            guard backends[index].servers.count < Self.maxServersPerBackend else {
                error(keyword, "a backend has at most \(Self.maxServersPerBackend) servers: split them into two backends")
                return
            }
            backends[index].servers.append(server)
        case "health":
            guard !rejectDuplicate(keyword, firstLine: backends[index].healthLine) else { return }
            backends[index].healthLine = keyword.line
            backends[index].health = healthDirective(tokens)
        case "sandbox":
            guard expectArguments(tokens, 0...0, usage: "sandbox") else { return }
            backends[index].sandbox = true
        case "mode", "host", "path", "listen", "active", "split", "sticky", "cohort", "max-body", "backend", "mirror":
            unknownDirective(keyword, scope: "in a backend block", known: Self.backendDirectives,
                             hint: "\(keyword.text) belongs inside a route block")
        default:
            unknownDirective(keyword, scope: "in a backend block", known: Self.backendDirectives)
        }
    }

    /// `server HOST:PORT [weight N] [tls] [verify|noverify] [sni NAME] [ca PATH] [cert PATH key PATH]`
    private mutating func serverDirective(_ tokens: [RoutesToken]) -> ServerConfig? {
        let usage = "server HOST:PORT [weight N] [tls] [verify|noverify] [sni NAME] [ca PATH] [cert PATH key PATH]"
        var clientCert: String?
        var clientKey: String?
        guard expectArguments(tokens, 1...Int.max - 1, usage: usage) else { return nil }
        let endpoint = value(parseServerEndpoint(tokens[1].text), at: tokens[1])
        var server = ServerConfig(endpoint: endpoint ?? Endpoint(host: "", port: 0))
        server.line = tokens[0].line
        var ok = endpoint != nil
        var seen: [String: RoutesToken] = [:]
        var i = 2
        while i < tokens.count {
            let option = tokens[i]
            let family = option.text == "noverify" ? "verify" : option.text
            if seen[family] != nil {
                error(option, "duplicate server option \"\(option.text)\"")
                ok = false
            }
            seen[family] = option
            switch option.text {
            case "tls":
                server.tls = true
            case "verify":
                server.verify = true
            case "noverify":
                server.verify = false
            case "weight", "sni", "ca", "cert", "key":
                guard i + 1 < tokens.count else {
                    error(option, "missing value after \(option.text) (usage: \(usage))")
                    return nil
                }
                let argument = tokens[i + 1]
                i += 1
                switch option.text {
                case "weight":
                    if let weight = value(parseInteger(argument.text, in: 0...1000, what: "weight"), at: argument) {
                        server.weight = weight
                    } else {
                        ok = false
                    }
                case "sni":
                    if isDNSName(Substring(argument.text)) {
                        server.sni = argument.text
                    } else {
                        error(argument, "bad sni name \"\(argument.text)\"")
                        ok = false
                    }
                case "cert":
                    clientCert = argument.text
                case "key":
                    clientKey = argument.text
                default:
                    server.caPath = argument.text
                }
            default:
                error(option, "unknown server option \"\(option.text)\" (usage: \(usage))")
                ok = false
            }
            i += 1
        }
        // verify/sni/ca describe an upstream TLS session; without `tls` they would be
        // silently ignored, which hides a half-written line.
        if let cert = seen["cert"] ?? seen["key"] {
            if let clientCert, let clientKey {
                server.clientCertificate = CertificatePaths(certPath: clientCert, keyPath: clientKey, line: cert.line)
            } else {
                error(cert, "a client certificate needs both cert PATH and key PATH")
                ok = false
            }
        }
        if !server.tls {
            for name in ["verify", "noverify", "sni", "ca", "cert", "key"] {
                if let option = seen[name == "noverify" ? "verify" : name], option.text == name {
                    error(option, "\(name) needs tls on the same server line")
                    ok = false
                }
            }
        }
        return ok ? server : nil
    }

    /// `health GET PATH every DURATION [expect STATUS] [rise N] [fall N]`
    private mutating func healthDirective(_ tokens: [RoutesToken]) -> HealthCheckConfig? {
        let usage = "health GET PATH every DURATION [expect STATUS] [rise N] [fall N]"
        guard expectArguments(tokens, 4...10, usage: usage) else { return nil }
        var ok = true
        let method = tokens[1]
        if !["GET", "HEAD", "OPTIONS"].contains(method.text) {
            error(method, "unsupported health check method \"\(method.text)\" (expected GET, HEAD or OPTIONS)")
            ok = false
        }
        let path = tokens[2]
        if !path.text.hasPrefix("/") {
            error(path, "health check path must start with '/'")
            ok = false
        }
        if tokens[3].text != "every" {
            error(tokens[3], "expected \"every\" (usage: \(usage))")
            return nil
        }
        guard tokens.count > 4 else {
            error(tokens[3], "missing duration after every")
            return nil
        }
        let interval = value(parseDuration(tokens[4].text), at: tokens[4])
        var check = HealthCheckConfig(method: method.text, path: path.text, intervalMilliseconds: interval ?? 0)
        ok = ok && interval != nil
        var i = 5
        while i < tokens.count {
            let option = tokens[i]
            guard ["expect", "rise", "fall"].contains(option.text) else {
                error(option, "unknown health option \"\(option.text)\" (expected expect, rise or fall)")
                return nil
            }
            guard i + 1 < tokens.count else {
                error(option, "missing value after \(option.text)")
                return nil
            }
            let argument = tokens[i + 1]
            switch option.text {
            case "expect":
                if let status = value(parseInteger(argument.text, in: 100...599, what: "status"), at: argument) {
                    check.expectStatus = status
                } else { ok = false }
            case "rise":
                if let n = value(parseInteger(argument.text, in: 1...100, what: "rise count"), at: argument) {
                    check.rise = n
                } else { ok = false }
            default:
                if let n = value(parseInteger(argument.text, in: 1...100, what: "fall count"), at: argument) {
                    check.fall = n
                } else { ok = false }
            }
            i += 2
        }
        return ok ? check : nil
    }
}
