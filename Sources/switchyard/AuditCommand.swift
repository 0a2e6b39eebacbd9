import ArgumentParser
import Foundation
import SwitchyardAdmin

/// `switchyard audit verify|export`: read the audit log file itself (an auditor may work on
/// a copy, with the proxy stopped), not through the admin socket.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify the audit log's hash chain, or export it for change management.",
        subcommands: [AuditVerify.self, AuditExportCommand.self])

    /// Where `serve` writes it under the packaged unit (beside the state file).
    static let defaultPath = "/var/lib/switchyard/audit.log"
    /// Where `switchyard demo` writes it.
    static let demoPath = "/tmp/switchyard-demo/audit.log"

    /// The file named, or the packaged one, or — when there is none and the caller runs
    /// the demo (its admin socket is theirs, as the admin commands find it) — the demo's:
    /// `switchyard audit verify` works beside `make demo` with no argument, as `status` does.
    static func file(_ given: String?) -> String {
        if let given { return given }
        if access(defaultPath, F_OK) != 0, access(demoPath, F_OK) == 0, AdminSocketTrust.isCallersOwn(AdminClient.demoPath) {
            return demoPath
        }
        return defaultPath
    }
}

struct AuditVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every record's hash and link: exit 0 and 'ok', or exit 1 naming the first record altered, removed or reordered.")

    @Argument(help: "The audit log (default: \(AuditCommand.defaultPath), or the demo's \(AuditCommand.demoPath) while it runs).")
    var given: String?

    func run() throws {
        let file = AuditCommand.file(given)
        let verdict: AuditVerifier.Verdict
        do {
            verdict = try AuditVerifier.verify(path: file)
        } catch {
            printError("switchyard: \(error)")
            throw ExitCode(ExitCodes.unusable)
        }
        switch verdict {
        case .intact(let records, let instance, let lastHash):
            printNow("\(file): ok — \(records) record(s), chain anchored in instance \(instance), last hash \(lastHash)")
        case .empty:
            printNow("\(file): ok — no records")
        case .broken(let line, let reason):
            printNow("\(file):\(line): \(reason)")
            throw ExitCode(ExitCodes.refused)
        }
    }
}

struct AuditExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Records since a date as CSV or JSON: time, outcome, uid, user, pid, command, reason, changes (before → after), generations, error.",
        discussion: "The chain is verified first; a broken chain is reported on standard error and the exit status is 1, the records are still written.")

    @Option(help: "The first day (2026-11-30, midnight UTC) or time (2026-11-30T08:00:00Z) to include.")
    var since: String

    @Option(help: "csv or json.")
    var format: String = "csv"

    @Argument(help: "The audit log (default: \(AuditCommand.defaultPath), or the demo's \(AuditCommand.demoPath) while it runs).")
    var given: String?

    func run() throws {
        let file = AuditCommand.file(given)
        guard let format = AuditExport.Format(rawValue: format) else {
            printError("switchyard: --format \(self.format): give csv or json")
            throw ExitCode(ExitCodes.unusable)
        }
        let start: Date
        let verdict: AuditVerifier.Verdict
        let text: String
        do {
            start = try AuditExport.parseDate(since)
            (text, verdict) = try AuditVerifier.read(path: file)
        } catch let error as AuditExport.BadDate {
            printError("switchyard: \(error)")
            throw ExitCode(ExitCodes.unusable)
        } catch {
            printError("switchyard: \(error)")
            throw ExitCode(ExitCodes.unusable)
        }
        // Written as is: printNow would add a newline after the CSV's CRLF ("\r\n" is one
        // Character, so it does not end with "\n").
        FileHandle.standardOutput.write(Data(AuditExport.render(text, since: start, format: format).utf8))
        if case .broken(let line, let reason) = verdict {
            printError("switchyard: \(file):\(line): \(reason)")
            throw ExitCode(ExitCodes.refused)
        }
    }
}

