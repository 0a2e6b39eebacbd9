import SwitchyardRouting
import SwitchyardTLS

/// The TLS server contexts of a configuration's `listen https` lines, in file order: each
/// listener's own certificate as the default, and every route's `cert` for its host names
/// (the client's SNI name picks it). Built on the thread that starts or reloads — it reads
/// files — and handed to the workers whole, so a bad file changes nothing.
enum ListenerCertificates {
    static func contexts(for config: RoutesConfig) throws(ProxyError) -> [TLSServerContext] {
        var names: [String: TLSCertificateFiles] = [:]
        for route in config.routes {
            guard let paths = route.certificate else { continue }
            // SNI carries DNS names only, never addresses.
            for host in route.hosts where !host.hasPrefix("[") {
                names[host] = files(paths)
            }
        }
        var result: [TLSServerContext] = []
        for listener in config.listeners where listener.kind == .https {
            guard let cert = listener.certPath, let key = listener.keyPath else {
                throw ProxyError.tls(address: "\(listener.endpoint)", message: "listen https needs cert and key")
            }
            do {
                result.append(try TLSServerContext(
                    defaultCertificate: TLSCertificateFiles(certificatePath: cert, keyPath: key, chainPath: listener.chainPath),
                    names: names,
                    alpn: listener.http1Only ? ["http/1.1"] : ["h2", "http/1.1"],
                    clientCertificateCA: listener.clientCAPath))
            } catch {
                throw ProxyError.tls(address: "\(listener.endpoint)", message: error.description)
            }
        }
        return result
    }

    static func files(_ paths: CertificatePaths) -> TLSCertificateFiles {
        TLSCertificateFiles(certificatePath: paths.certPath, keyPath: paths.keyPath, chainPath: paths.chainPath)
    }
}

extension Proxy {
    /// Every certificate, key and CA file of `config` read as `serve` and `reload` read
    /// them; one `file:line:col: message` per problem (`check` prints them).
    public static func certificateProblems(_ config: RoutesConfig, file: String) -> [String] {
        var problems: [String] = []
        for listener in config.listeners where listener.kind == .https {
            guard let cert = listener.certPath, let key = listener.keyPath else { continue }
            do {
                let files = TLSCertificateFiles(certificatePath: cert, keyPath: key, chainPath: listener.chainPath)
                try TLSServerContext.validate(files)
                if let ca = listener.clientCAPath {
                    _ = try TLSServerContext(defaultCertificate: files, clientCertificateCA: ca)
                }
            } catch {
                problems.append("\(file):\(listener.line):1: listen https \(listener.endpoint): \(error)")
            }
        }
        for route in config.routes {
            guard let paths = route.certificate else { continue }
            do {
                try TLSServerContext.validate(ListenerCertificates.files(paths))
            } catch {
                problems.append("\(file):\(paths.line):1: route \(route.name) cert: \(error)")
            }
        }
        for backend in config.backends {
            for server in backend.servers where server.tls {
                do {
                    _ = try TLSClientContext(caFile: server.caPath, verify: server.verify,
                                             clientCertificate: server.clientCertificate.map(ListenerCertificates.files))
                } catch {
                    let line = server.line
                    problems.append("\(file):\(line):1: backend \(backend.name) server \(server.endpoint): \(error)")
                }
            }
        }
        return problems
    }
}
