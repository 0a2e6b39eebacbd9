import ArgumentParser

@main
struct SwitchyardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "A traffic-switching reverse proxy for moving clinical web applications between backends.",
        discussion: """
        Start with `switchyard demo` to see traffic split between two built-in backends.

        GLOBAL OPTIONS (before or after the command word)
          --admin PATH             the admin socket ($SWITCHYARD_ADMIN, ...)
          --expect-owner USER|UID  also trust a proxy running as this user

        \(ExitCodes.summary)
        """,
        version: Version.line,
        subcommands: [Serve.self, Check.self, Demo.self, Status.self, Show.self, History.self, Weight.self,
                      CohortCommand.self, Flip.self, HoldCommand.self, ReleaseCommand.self, Revert.self, Drain.self, Reload.self, ReopenLogs.self, UpgradeCommand.self, AuditCommand.self,
                      GuardCommand.self, GuardsCommand.self, PlanCommand.self,
                      InventoryCLI.self, SimulateCLI.self, MirrorCommand.self, CompareCLI.self, FleetCommand.self,
                      Version.self]
    )

    /// Global options may come before the command word: moved after it, then parsed.
    static func main() {
        main(GlobalOptions.moved(Array(CommandLine.arguments.dropFirst())))
    }
}
