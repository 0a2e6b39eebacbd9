import Glibc

/// SIGUSR1 (logrotate's `postrotate`): reopen the log files at their paths, so that writes
/// go to the new file rather than the rotated one.
///
/// A stop-gap, kept to this file: the observability work brings its own log reopening,
/// which replaces this. Without a handler SIGUSR1 would terminate the process at the first
/// rotation. It finds the descriptors the logs were opened on by their inode, and puts a
/// fresh descriptor for the path in the same number with dup2(2) — atomic for the worker
/// threads writing to it, which keep using the number they have.
struct LogReopening {
    private var logs: [(path: String, fd: Int32)] = []

    /// Finds the open descriptors of `paths` (those that exist) in /proc/self/fd.
    init(paths: [String]) {
        for path in paths {
            var file = stat()
            guard stat(path, &file) == 0 else { continue }
            for fd in Self.openDescriptors() {
                var open = stat()
                if fstat(fd, &open) == 0, open.st_dev == file.st_dev, open.st_ino == file.st_ino,
                   fcntl(fd, F_GETFL) & O_ACCMODE != O_RDONLY {
                    logs.append((path, fd))
                }
            }
        }
    }

    private static func openDescriptors() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        var result: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd > 2 { result.append(fd) }
        }
        return result
    }

    /// Reopens every log; the lines of the ones that could not be (kept on the old file).
    func reopen() -> [String] {
        var failures: [String] = []
        for log in logs {
            let fresh = open(log.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
            guard fresh >= 0 else {
                failures.append("cannot reopen \(log.path): \(String(cString: strerror(errno))); still writing to the old file")
                continue
            }
            // dup2 (dup3 is not in Swift's Glibc module), then close-on-exec again: dup2
            // clears it on the target number.
            if dup2(fresh, log.fd) < 0 {
                failures.append("cannot reopen \(log.path): dup2: \(String(cString: strerror(errno)))")
            } else {
                _ = fcntl(log.fd, F_SETFD, FD_CLOEXEC)
            }
            close(fresh)
        }
        return failures
    }
}
