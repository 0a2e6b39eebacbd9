import ArgumentParser
import SwitchyardAdmin
import SwitchyardProxy
import SwitchyardRouting
import SwitchyardTLS

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a routes file (exit 0 if valid, 1 with every error as file:line:column otherwise).")

    @Argument(help: "The routes file.")
    var routesFile: String

    func run() throws {
        do {
            let config = try RoutesConfig.load(path: routesFile)
            let table = try RouteTable.build(config: config, state: RuntimeState(), generation: 1)
            // Certificates, keys and CA files are read as `serve` and `reload` read them.
            // So is the fleet's etcd password file, which `serve` reads at start.
            // And the admin line's user and group names, which `serve` resolves at start
            // (before, `check` passed a misspelt `allow group` that stopped the start).
            var names: [String] = []
            do throws(AdminError) { _ = try AccessPolicy(config: config.admin) } catch { names.append("\(routesFile): \(error.message)") }
            // Names are resolved as the start resolves them: a listener that is another one's
            // address once resolved, or a server name this machine cannot resolve, stops it.
            let problems = Proxy.certificateProblems(config, file: routesFile) + ServeFleet.passwordProblems(config, file: routesFile) + names
                + AddressProblems.listeners(config, file: routesFile) + AddressProblems.servers(config, file: routesFile)
            if !problems.isEmpty {
                printError(problems.joined(separator: "\n"))
                throw ExitCode(1)
            }
            var warnings = Proxy.keyFileWarnings(config, file: routesFile)
            // `serve` takes the admin socket from this line or from --admin: only the start knows.
            if let fleet = config.fleet, config.admin == nil {
                warnings.append("\(routesFile): fleet \(fleet.name) needs the admin socket: add an admin line, or start serve with --admin PATH")
            }
            if !warnings.isEmpty { printError(warnings.joined(separator: "\n")) }
            print("\(routesFile): ok — \(config.listeners.count) listener(s), \(config.backends.count) backend(s), \(table.routes.count) route(s)")
        } catch let error as RoutesErrors {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}
