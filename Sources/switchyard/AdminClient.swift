import ArgumentParser
import Foundation
import Glibc
import SwitchyardAdmin
import SwitchyardSystem

/// The CLI side of the admin socket: sends one command line, prints the answer, exits 1 if
/// the proxy refused it (2 if it was not sent). Finds the socket by itself: --admin,
/// $SWITCHYARD_ADMIN, then the usual places; talks only to a socket it can trust.
enum AdminClient {
    /// Tried in order when neither --admin nor $SWITCHYARD_ADMIN says where the socket is.
    static let systemPath = "/run/switchyard/admin.sock"
    /// The demo's socket, in /tmp where anybody can make a directory: used only when it and
    /// its directory belong to the caller (`AdminSocketTrust.isCallersOwn`).
    static let demoPath = "/tmp/switchyard-demo/admin.sock"

    static func socketPath(_ explicit: String?) throws -> String {
        if let explicit { return explicit }
        if let fromEnvironment = ProcessInfo.processInfo.environment["SWITCHYARD_ADMIN"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        if access(systemPath, F_OK) == 0 { return systemPath }
        if AdminSocketTrust.isCallersOwn(demoPath) { return demoPath }
        printError("switchyard: no admin socket found (tried \(systemPath), and \(demoPath) if it is yours); is the proxy running? Give --admin PATH or set SWITCHYARD_ADMIN.")
        throw ExitCode(2)
    }

    /// Takes `--NAME VALUE` out of `words`.
    static func takeOption(_ name: String, from words: inout [String]) throws -> String? {
        guard let i = words.firstIndex(of: name) else { return nil }
        guard i + 1 < words.count else {
            printError("switchyard: \(name) needs a value")
            throw ExitCode(2)
        }
        let value = words[i + 1]
        words.removeSubrange(i...(i + 1))
        return value
    }

    /// Splits off `--admin PATH` and `--expect-owner USER|UID`; checks who owns the socket
    /// and who listens on it; quotes every word so the line keeps each one whole.
    static func send(_ words: [String]) throws {
        var words = words
        let explicit = try takeOption("--admin", from: &words)
        var expected: UInt32?
        if let owner = try takeOption("--expect-owner", from: &words) {
            guard let uid = AdminSocketTrust.uid(of: owner) else {
                printError("switchyard: --expect-owner \(owner): no such user")
                throw ExitCode(2)
            }
            expected = uid
        }
        let path = try socketPath(explicit)
        let owners = AdminSocketTrust.trustedOwners(expected: expected)
        if let refusal = AdminSocketTrust.check(path, owners: owners) {
            printError("switchyard: \(refusal)")
            throw ExitCode(2)
        }
        let line: String
        do {
            line = try AdminCommandLine.line(quoting: words)
        } catch {
            printError("switchyard: \(error)")
            throw ExitCode(2)
        }
        guard let address = SocketAddress(unixPath: path) else {
            printError("switchyard: admin socket path too long: \(path)")
            throw ExitCode(2)
        }
        let fd: FileDescriptor
        do {
            fd = try Socket.connectBlocking(to: address)
        } catch {
            printError("switchyard: cannot reach the proxy at \(path): \(error)")
            throw ExitCode(2)
        }
        defer { fd.close() }
        if let refusal = AdminSocketTrust.checkPeer(fd, path: path, owners: owners) {
            printError("switchyard: \(refusal)")
            throw ExitCode(2)
        }
        // A proxy that refuses and closes at once (its connection cap) must not kill us with
        // SIGPIPE before its one-line reason is read and printed.
        signal(SIGPIPE, SIG_IGN)
        Array(line.utf8).withUnsafeBytes { try? fd.writeAll($0) }
        Socket.shutdownWrite(fd)
        var answer = ProgressFilter(live: isatty(STDOUT_FILENO) == 1)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            answer.take(chunk[0..<n])
        }
        let text = answer.finish()
        // Every answer, accepted or refused, has at least a line: nothing at all means the
        // proxy went away while it ran the command (stopped, killed), so whether it was
        // applied is unknown — never "done".
        if text.allSatisfy(\.isWhitespace) {
            printError("switchyard: the proxy at \(path) closed the connection without answering \"\(words.first ?? "")\": it may or may not have been applied; check `switchyard history` once it answers again")
            throw ExitCode(ExitCodes.unanswered)
        }
        printNow(text)
        if text.hasPrefix("error:") || text.hasPrefix("{\"error\"") || text.contains("\"ok\":false") { throw ExitCode(1) }
        if words.first == "hold" && text.contains(HoldCommands.notQuietMarker) { throw ExitCode(ExitCodes.notQuiet) }
    }
}

/// The admin commands, spoken over the admin socket. Each takes the words the proxy's
/// admin protocol takes, plus --reason "TEXT", --json, --admin PATH and --expect-owner USER|UID.
protocol AdminCommand: ParsableCommand {
    static var word: String { get }
    var words: [String] { get }
}

extension AdminCommand {
    func run() throws { try AdminClient.send([Self.word] + words) }
}

struct Status: AdminCommand {
    static let word = "status"
    static let configuration = CommandConfiguration(abstract: "Routes, shares, and each backend's requests, errors, latency, connections.")
    @Argument(parsing: .captureForPassthrough, help: "[--json] [--admin PATH]") var words: [String] = []
}

struct Show: AdminCommand {
    static let word = "show"
    static let configuration = CommandConfiguration(abstract: "show routes: the routing in force.")
    @Argument(parsing: .captureForPassthrough, help: "routes") var words: [String] = []
}

struct History: AdminCommand {
    static let word = "history"
    static let configuration = CommandConfiguration(abstract: "Generations: when, who, what.")
    @Argument(parsing: .captureForPassthrough) var words: [String] = []
}

struct Weight: AdminCommand {
    static let word = "weight"
    static let configuration = CommandConfiguration(abstract: "Set a route's split: weight charting cloud 10% [--reason \"CHG-1234\"].")
    @Argument(parsing: .captureForPassthrough, help: "ROUTE BACKEND PCT [BACKEND PCT...]") var words: [String] = []
}

struct CohortCommand: AdminCommand {
    static let word = "cohort"
    static let configuration = CommandConfiguration(commandName: "cohort", abstract: "Pin users: cohort charting add header X-Staff-Group nurses -> cloud.")
    @Argument(parsing: .captureForPassthrough, help: "ROUTE add|remove KIND ARGS -> BACKEND") var words: [String] = []
}

struct Flip: AdminCommand {
    static let word = "flip"
    static let configuration = CommandConfiguration(abstract: "Swap active and standby: flip ROUTE|all [--drain 30s] [--reason TEXT].")
    @Argument(parsing: .captureForPassthrough, help: "ROUTE|all") var words: [String] = []
}

struct Revert: AdminCommand {
    static let word = "revert"
    static let configuration = CommandConfiguration(abstract: "Restore the previous generation's state, or generation N's: revert [to N].")
    @Argument(parsing: .captureForPassthrough, help: "[to N]") var words: [String] = []
}

struct Drain: AdminCommand {
    static let word = "drain"
    static let configuration = CommandConfiguration(abstract: "Close idle connections to a backend now, its tunnels after DURATION.")
    @Argument(parsing: .captureForPassthrough, help: "BACKEND [DURATION]") var words: [String] = []
}

struct Reload: AdminCommand {
    static let word = "reload"
    static let configuration = CommandConfiguration(abstract: "Re-read the routes file (an invalid file changes nothing).")
    @Argument(parsing: .captureForPassthrough) var words: [String] = []
}

struct ReopenLogs: AdminCommand {
    static let word = "reopen-logs"
    static let configuration = CommandConfiguration(commandName: "reopen-logs", abstract: "Reopen the access and error logs (after logrotate renamed them); SIGUSR1 does the same.")
    @Argument(parsing: .captureForPassthrough) var words: [String] = []
}

struct UpgradeCommand: AdminCommand {
    static let word = "upgrade"
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Start the new binary, hand it the listening sockets, then drain this one: upgrade [--binary PATH].",
        discussion: "Answers once the new process serves (same generation) or failed (the old one keeps serving). SIGUSR2 does the same with the executable at the running one's path.")
    @Argument(parsing: .captureForPassthrough, help: "[--binary PATH] [--reason TEXT]") var words: [String] = []
}
