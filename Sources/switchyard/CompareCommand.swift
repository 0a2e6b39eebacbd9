import ArgumentParser

struct CompareCLI: AdminCommand {
    static let word = "compare"
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Mirror comparison: compare [ROUTE] [--json] (pairs, mismatches by field path, noise, latency, verdict); compare reset ROUTE|all (audited).")
    @Argument(parsing: .captureForPassthrough, help: "[ROUTE] [--json] | reset ROUTE|all [--reason TEXT]") var words: [String] = []
}
