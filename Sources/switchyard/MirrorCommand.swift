import ArgumentParser

struct MirrorCommand: AdminCommand {
    static let word = "mirror"
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "Copy a share of a route's users' reads to a backend: mirror charting cloud 5% | mirror charting off.",
        discussion: "The user's answer never waits for the copy; copies over the bounds are dropped and counted.")
    @Argument(parsing: .captureForPassthrough, help: "ROUTE BACKEND PCT | ROUTE off") var words: [String] = []
}
