import Glibc
import SwitchyardSystem

/// Files that must survive a crash at any instant.
enum DurableFile {
    /// Replaces `path` atomically: write a temporary file beside it, fsync it, rename it over
    /// the old one, fsync the directory (so the rename itself is on disk; see rename(2) and
    /// fsync(2)). A reader — or a restart after kill -9 — sees the old file or the new one,
    /// never a mix.
    static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o640) throws(AdminError) {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let temporary = "\(path).tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw AdminError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let file = FileDescriptor(rawValue: fd)
        if let error = write(bytes, to: file) {
            file.close()
            unlink(temporary)
            throw AdminError("cannot write \(temporary): \(error)")
        }
        file.close()
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw AdminError("cannot replace \(path): \(reason)")
        }
        let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = Glibc.fsync(dirFD)
            Glibc.close(dirFD)
        }
    }

    /// Appends one line and fsyncs before returning.
    static func appendLine(_ path: String, _ line: String) throws(AdminError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw AdminError("cannot open \(path): \(String(cString: strerror(errno)))") }
        let file = FileDescriptor(rawValue: fd)
        defer { file.close() }
        let bytes = Array((line + "\n").utf8)
        if let error = write(bytes, to: file) {
            throw AdminError("cannot append to \(path): \(error)")
        }
    }

    /// Writes everything and fsyncs; the error, if any.
    private static func write(_ bytes: [UInt8], to file: FileDescriptor) -> Errno? {
        var failure: Errno?
        bytes.withUnsafeBytes { raw in
            do {
                try file.writeAll(raw)
                try file.fsync()
            } catch {
                failure = error as? Errno ?? Errno(code: EIO, call: "write")
            }
        }
        return failure
    }
}
