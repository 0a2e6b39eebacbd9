import Foundation
import Glibc

/// The port a `switchyard serve` process reports in its error log ("listening on
/// http://127.0.0.1:PORT"), for routes files that listen on port 0. Fails after `seconds`.
public func listeningPort(errorLog: String, scheme: String = "http", seconds: Double = 15) throws -> UInt16 {
    var port: UInt16?
    try waitFor("`listening on \(scheme)://` in \(errorLog)", seconds: seconds) {
        let log = (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""
        guard let range = log.range(of: "listening on \(scheme)://127.0.0.1:") else { return false }
        port = UInt16(log[range.upperBound...].prefix { $0.isNumber })
        return port != nil
    }
    return port!
}

/// A `switchyard serve` child process, for tests of what only a real process shows:
/// signals, kill -9, its exit status and its logs. Every wait on it has a deadline.
public final class SwitchyardProcess: @unchecked Sendable {
    public let process = Process()
    public let errorLogPath: String
    private let output = Pipe()

    /// Starts `switchyard serve routesPath arguments… --error-log errorLogPath`, with
    /// `environment` added to this process's own.
    public init(routesPath: String, errorLogPath: String, arguments: [String] = [], environment: [String: String] = [:]) throws {
        self.errorLogPath = errorLogPath
        process.executableURL = URL(fileURLWithPath: try switchyardBinary())
        process.arguments = ["serve", routesPath, "--error-log", errorLogPath] + arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }

    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the process to exit on its own; its status, or a failure after `seconds`
    /// (the process is then killed).
    @discardableResult
    public func waitForExit(seconds: Double, what: String = "switchyard to exit") throws -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            signal(SIGKILL)
            process.waitUntilExit()
            throw TestPrecondition("gave up after \(seconds) s waiting for \(what) (killed it)")
        }
        return process.terminationStatus
    }

    /// What the process wrote to stdout/stderr (read after it exited).
    public func consoleOutput() -> String {
        String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    public var errorLog: String { (try? String(contentsOfFile: errorLogPath, encoding: .utf8)) ?? "" }

    /// kill -9 and reap.
    public func kill9() {
        signal(SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then SIGKILL if it is still there after 15 s.
    public func stop() {
        guard process.isRunning else { return }
        signal(SIGTERM)
        if (try? waitForExit(seconds: 15)) == nil { kill9() }
    }
}
