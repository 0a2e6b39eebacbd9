import ArgumentParser
import SwitchyardRouting

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a routes file (exit 0 if valid, 1 with every error as file:line:column otherwise).")

    @Argument(help: "The routes file.")
    var routesFile: String

    func run() throws {
        do {
            let config = try RoutesConfig.load(path: routesFile)
            let table = try RouteTable.build(config: config, state: RuntimeState(), generation: 1)
            print("\(routesFile): ok — \(config.listeners.count) listener(s), \(config.backends.count) backend(s), \(table.routes.count) route(s)")
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}
