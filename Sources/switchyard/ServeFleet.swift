import ArgumentParser
import Foundation
import SwitchyardAdmin
import SwitchyardProxy
import SwitchyardRouting

/// `serve` with a `fleet` line: the agent that keeps this instance with the others.
enum ServeFleet {
    /// `check`: a password file `serve` could not read, as one line naming it.
    static func passwordProblems(_ config: RoutesConfig, file: String) -> [String] {
        guard let fleet = config.fleet, let path = fleet.passwordFile else { return [] }
        guard (try? String(contentsOfFile: path, encoding: .utf8)) == nil else { return [] }
        return ["\(file): fleet \(fleet.name): cannot read password-file \(path)"]
    }

    /// nil without a fleet line. A fleet needs the admin socket (changes come through it)
    /// and so a state file (the instance starts from it when etcd is out of reach).
    static func make(config: RoutesConfig, service: AdminService?, errorLog: ErrorLog) throws -> FleetAgent? {
        guard let fleet = config.fleet else { return nil }
        guard let service else {
            printError("switchyard: fleet \(fleet.name) needs an admin line (changes come through the admin socket)")
            throw ExitCode(1)
        }
        var password: String?
        if let path = fleet.passwordFile {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                printError("switchyard: fleet \(fleet.name): cannot read password-file \(path)")
                throw ExitCode(1)
            }
            password = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        }
        let agent = FleetAgent(config: fleet, password: password, errorLog: errorLog)
        service.fleet = agent
        errorLog.info("fleet \(fleet.name): instance \(agent.instanceName), etcd " + fleet.endpoints.map(\.description).joined(separator: " "))
        return agent
    }
}
