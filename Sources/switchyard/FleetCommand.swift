import ArgumentParser

struct FleetCommand: AdminCommand {
    static let word = "fleet"
    static let configuration = CommandConfiguration(commandName: "fleet",
        abstract: "fleet forget INSTANCE: remove a retired instance from the fleet's members (only one with no record for 10 minutes).")
    @Argument(parsing: .captureForPassthrough, help: "forget INSTANCE") var words: [String] = []
}
