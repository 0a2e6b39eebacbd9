/// Where the proxy tells the people on call about changes: a program given the event as
/// one JSON object on stdin, or an HTTP endpoint the event is POSTed to (plain HTTP/1.1).
public enum NotifyTarget: Sendable, Equatable {
    /// `notify exec PATH`: an absolute path, run without a shell.
    case exec(path: String)
    /// `notify post http://HOST:PORT/PATH`.
    case post(host: String, port: UInt16, path: String)

    public var description: String {
        switch self {
        case .exec(let path): return "exec \(path)"
        case .post(let host, let port, let path): return "post http://\(host):\(port)\(path)"
        }
    }

    /// Reads the words after `notify`; a message on a problem.
    static func parse(_ kind: String, _ argument: String) -> Result<NotifyTarget, GuardParseError> {
        switch kind {
        case "exec":
            guard argument.hasPrefix("/") else { return .failure(.init(word: 1, message: "notify exec needs an absolute path")) }
            return .success(.exec(path: argument))
        case "post":
            if argument.hasPrefix("https://") {
                return .failure(.init(word: 1, message: "notify post over TLS is not supported yet (use http:// to a local relay)"))
            }
            guard argument.hasPrefix("http://") else { return .failure(.init(word: 1, message: "expected http://HOST:PORT/PATH")) }
            let rest = argument.dropFirst("http://".count)
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
            return .success(.post(host: host, port: port, path: path.isEmpty ? "/" : String(path)))
        default:
            return .failure(.init(word: 0, message: "unknown notify kind \"\(kind)\" (expected exec or post)"))
        }
    }
}

extension RoutesParser {
    /// `notify exec PATH` | `notify post http://HOST:PORT/PATH`, any number of lines.
    mutating func notifyDirective(_ tokens: [RoutesToken]) {
        guard expectArguments(tokens, 2...2, usage: "notify exec PATH | notify post http://HOST:PORT/PATH") else { return }
        switch NotifyTarget.parse(tokens[1].text, tokens[2].text) {
        case .success(let target): notify.append(target)
        case .failure(let problem): error(tokens[problem.word + 1], problem.message)
        }
    }
}
