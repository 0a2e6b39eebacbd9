import ArgumentParser

struct InventoryCLI: AdminCommand {
    static let word = "inventory"
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Who calls each route: inventory [ROUTE] [--since 24h] [--json]; inventory export --format csv [ROUTE].")
    @Argument(parsing: .captureForPassthrough, help: "[ROUTE] [--since 24h|DATE] [--json] | export --format csv [ROUTE]") var words: [String] = []
}

struct SimulateCLI: AdminCommand {
    static let word = "simulate"
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Who would move: simulate ROUTE BACKEND PCT [BACKEND PCT...] [cohort add|remove KIND ARGS -> BACKEND] [--since 24h].")
    @Argument(parsing: .captureForPassthrough, help: "ROUTE BACKEND PCT ... [cohort add|remove ...] [--since 24h]") var words: [String] = []
}
