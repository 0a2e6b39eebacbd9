/// Where the proxy tells the people on call about changes: a program given the event as
/// one JSON object on stdin, or an HTTP endpoint the event is POSTed to (HTTP/1.1, plain or
/// over TLS).
public enum NotifyTarget: Sendable, Equatable {
    /// `notify exec PATH`: an absolute path, run without a shell.
    case exec(path: String)
    /// `notify post http://HOST:PORT/PATH`.
    case post(host: String, port: UInt16, path: String)
    /// `notify post https://HOST:PORT/PATH [ca FILE]`: the receiver's certificate is checked
    /// against FILE's CAs (default: the system's) and must name HOST.
    case postTLS(host: String, port: UInt16, path: String, ca: String?)

    public var description: String {
        switch self {
        case .exec(let path): return "exec \(path)"
        case .post(let host, let port, let path): return "post http://\(host):\(port)\(path)"
        case .postTLS(let host, let port, let path, let ca): return "post https://\(host):\(port)\(path)" + (ca.map { " ca \($0)" } ?? "")
        }
    }

    /// Reads the words after `notify`; a message on a problem. `ca`: the file after `ca`.
    static func parse(_ kind: String, _ argument: String, ca: String? = nil) -> Result<NotifyTarget, GuardParseError> {
        switch kind {
        case "exec":
            guard argument.hasPrefix("/") else { return .failure(.init(word: 1, message: "notify exec needs an absolute path")) }
            guard ca == nil else { return .failure(.init(word: 2, message: "ca is for notify post https:// only")) }
            return .success(.exec(path: argument))
        case "post":
            let tls = argument.hasPrefix("https://")
            guard tls || argument.hasPrefix("http://") else { return .failure(.init(word: 1, message: "expected http://HOST:PORT/PATH or https://HOST:PORT/PATH")) }
            guard tls || ca == nil else { return .failure(.init(word: 2, message: "ca is for notify post https:// only")) }
            let rest = argument.dropFirst(tls ? "https://".count : "http://".count)
            let authority = rest.prefix { $0 != "/" }
            let path = rest.dropFirst(authority.count)
            guard let colon = authority.lastIndex(of: ":"), let port = UInt16(authority[authority.index(after: colon)...]), port > 0,
                  !authority[..<colon].isEmpty else {
                return .failure(.init(word: 1, message: "expected http://HOST:PORT/PATH with a port"))
            }
            let host = String(authority[..<colon])
            guard host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "@") }),
                  path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                return .failure(.init(word: 1, message: "bad characters in the notify URL"))
            }
            let target = path.isEmpty ? "/" : String(path)
            return .success(tls ? .postTLS(host: host, port: port, path: target, ca: ca) : .post(host: host, port: port, path: target))
        default:
            return .failure(.init(word: 0, message: "unknown notify kind \"\(kind)\" (expected exec or post)"))
        }
    }
}

extension RoutesParser {
    /// `notify exec PATH` | `notify post http(s)://HOST:PORT/PATH [ca FILE]`, any number of lines.
    mutating func notifyDirective(_ tokens: [RoutesToken]) {
        let usage = "notify exec PATH | notify post http://HOST:PORT/PATH | notify post https://HOST:PORT/PATH [ca FILE]"
        guard expectArguments(tokens, 2...4, usage: usage) else { return }
        var ca: String?
        if tokens.count > 3 {
            guard tokens[3].text == "ca", tokens.count == 5 else {
                error(tokens[3], "expected ca FILE after the URL (\(usage))")
                return
            }
            ca = tokens[4].text
        }
        switch NotifyTarget.parse(tokens[1].text, tokens[2].text, ca: ca) {
        case .success(let target): notify.append(target)
        case .failure(let problem): error(tokens[problem.word + 1], problem.message)
        }
    }
}
