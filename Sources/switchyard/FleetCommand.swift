import ArgumentParser

struct FleetCommand: AdminCommand {
    static let word = "fleet"
    static let configuration = CommandConfiguration(commandName: "fleet",
        abstract: "fleet forget INSTANCE: remove a retired instance from the fleet's members (only once its record has expired).")
    @Argument(parsing: .captureForPassthrough, help: "forget INSTANCE") var words: [String] = []
}
