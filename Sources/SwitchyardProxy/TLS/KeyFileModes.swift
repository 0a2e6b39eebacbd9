import Glibc
import SwitchyardRouting

extension Proxy {
    /// Warnings for private key files (listeners', routes' and upstream client keys) that
    /// group or others may read or write, as `file:line:1: warning: …` with the key's path
    /// and octal mode. Only a warning: the key works, but anyone in that group (or anyone at
    /// all) can take it and pose as the service. A key that cannot be read at all is
    /// `certificateProblems`' business, not this one's.
    public static func keyFileWarnings(_ config: RoutesConfig, file: String) -> [String] {
        var keys: [(path: String, line: Int, what: String)] = []
        for listener in config.listeners {
            if let key = listener.keyPath { keys.append((key, listener.line, "listen \(listener.kind.rawValue) \(listener.endpoint)")) }
        }
        for route in config.routes {
            if let paths = route.certificate { keys.append((paths.keyPath, paths.line, "route \(route.name)")) }
        }
        for backend in config.backends {
            for server in backend.servers {
                if let paths = server.clientCertificate { keys.append((paths.keyPath, paths.line, "backend \(backend.name) server \(server.endpoint)")) }
            }
        }
        var warnings: [String] = []
        var seen: Set<String> = []
        for key in keys where seen.insert(key.path).inserted {
            var info = stat()
            guard stat(key.path, &info) == 0, info.st_mode & 0o077 != 0 else { continue }
            let mode = "0" + String(info.st_mode & 0o7777, radix: 8)
            warnings.append("\(file):\(key.line):1: warning: \(key.what): private key \(key.path) is open to group or others (mode \(mode)); chmod 600 it")
        }
        return warnings
    }
}
