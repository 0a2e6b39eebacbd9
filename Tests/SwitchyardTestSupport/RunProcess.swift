import Foundation
import Glibc

/// What a command run by `runProcess` does with its standard error.
public enum StandardErrorHandling: Sendable {
    /// Mixed into the output (what a user at a terminal would see).
    case merged
    /// Thrown away (tools that chat on stderr while the test reads stdout).
    case discarded
}

/// Output collected from a child on a reader thread.
private final class OutputBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ more: Data) { lock.lock(); data.append(more); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}

/// Runs `path` with `arguments` to completion; its exit status and output. A child still
/// running after `timeoutSeconds` is killed (SIGKILL) and the call throws, with the command
/// line and the output so far: a hung tool fails its test instead of hanging the suite.
public func runProcess(_ path: String, _ arguments: [String], currentDirectory: URL? = nil,
                       standardError: StandardErrorHandling = .merged,
                       timeoutSeconds: Double = 120) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    let pipe = Pipe()
    // Nothing to read: a tool waiting for input (openssl s_client) sees end of file at once.
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = pipe
    process.standardError = standardError == .merged ? pipe : FileHandle.nullDevice
    try process.run()
    let output = OutputBox()
    let finished = DispatchSemaphore(value: 0)
    let reader = pipe.fileHandleForReading
    Thread {
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            output.append(chunk)
        }
        process.waitUntilExit()
        finished.signal()
    }.start()
    if finished.wait(timeout: .now() + timeoutSeconds) == .timedOut {
        kill(process.processIdentifier, SIGKILL)
        // Grandchildren may still hold the pipe: do not wait for them for long.
        _ = finished.wait(timeout: .now() + 2)
        let line = ([path] + arguments).joined(separator: " ")
        throw TestPrecondition("`\(line)` did not finish within \(timeoutSeconds) s and was killed; its output so far: \(output.text)")
    }
    return (process.terminationStatus, output.text)
}
