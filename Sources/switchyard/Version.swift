import ArgumentParser

/// `switchyard version`: the release and the commit it was built from, so that an
/// upgrade (and a bug report) can say exactly which code is running.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version and the commit this binary was built from.")

    /// Also the Debian package's version (`make deb`).
    static let release = "0.9.0"

    /// From `BuildInfo.swift`, which the BuildInfo plugin writes before every build.
    static var commit: String { buildCommit }

    static var line: String { "switchyard \(release) (commit \(commit))" }

    func run() throws { printNow(Self.line) }
}
