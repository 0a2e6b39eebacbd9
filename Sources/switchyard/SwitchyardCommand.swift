import ArgumentParser

@main
struct SwitchyardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "A traffic-switching reverse proxy for moving clinical web applications between backends.",
        discussion: """
        Start with `switchyard demo` to see traffic split between two built-in backends.
        """,
        subcommands: [Serve.self, Check.self, Demo.self, Status.self, Show.self, History.self, Weight.self,
                      CohortCommand.self, Flip.self, Revert.self, Drain.self, Reload.self, ReopenLogs.self]
    )
}
