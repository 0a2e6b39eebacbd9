import ArgumentParser

struct HoldCommand: AdminCommand {
    static let word = "hold"
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Park a route's writes while reads flow: hold ROUTE|all [--max-wait 60s] [--reason TEXT]. Answers once no write is in flight upstream.")
    @Argument(parsing: .captureForPassthrough, help: "ROUTE|all") var words: [String] = []
}

struct ReleaseCommand: AdminCommand {
    static let word = "release"
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Send parked writes upstream in arrival order, to the routing in force now: release ROUTE|all [--rate 100/s] [--reason TEXT].")
    @Argument(parsing: .captureForPassthrough, help: "ROUTE|all") var words: [String] = []
}
