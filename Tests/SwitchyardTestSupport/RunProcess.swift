import Foundation

/// What a command run by `runProcess` does with its standard error.
public enum StandardErrorHandling: Sendable {
    /// Mixed into the output (what a user at a terminal would see).
    case merged
    /// Thrown away (tools that chat on stderr while the test reads stdout).
    case discarded
}

/// Runs `path` with `arguments` to completion; its exit status and output.
public func runProcess(_ path: String, _ arguments: [String], currentDirectory: URL? = nil,
                       standardError: StandardErrorHandling = .merged) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = standardError == .merged ? pipe : FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
