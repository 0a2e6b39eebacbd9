import Glibc
import SwitchyardSystem

/// Files that must survive a crash at any instant. Every open uses O_NOFOLLOW: the admin
/// directory is checked at start (`AdminDirectory`), and a symlink that appears in place of
/// one of our files is refused rather than followed to a file somebody else chose.
enum DurableFile {
    /// Replaces `path` atomically: write a temporary file beside it (O_EXCL: created by us,
    /// never an existing file or link), fsync it, rename it over the old one, fsync the
    /// directory (so the rename itself is on disk; see rename(2) and fsync(2)). A reader — or
    /// a restart after kill -9 — sees the old file or the new one, never a mix.
    static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o640) throws(AdminError) {
        let directory = AdminDirectory.parent(of: path)
        let temporary = "\(path).tmp.\(getpid())"
        let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC
        var fd = open(temporary, flags, mode)
        if fd < 0 && errno == EEXIST {
            // Left by a process with our pid that died mid-write; ours to remove.
            unlink(temporary)
            fd = open(temporary, flags, mode)
        }
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
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = Glibc.fsync(dirFD)
            Glibc.close(dirFD)
        }
    }

    /// Appends one line and fsyncs before returning.
    static func appendLine(_ path: String, _ line: String) throws(AdminError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            // ELOOP is what O_NOFOLLOW answers for a symlink (open(2)).
            if errno == ELOOP { throw AdminError("\(path) is a symlink: refused, nothing written") }
            throw AdminError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        let file = FileDescriptor(rawValue: fd)
        defer { file.close() }
        let bytes = Array((line + "\n").utf8)
        // Where the line starts: a write cut short (a full disk, a size limit) is taken back,
        // or the next line would be glued to the fragment and become unreadable too.
        let start = lseek(fd, 0, SEEK_END)
        if let error = write(bytes, to: file) {
            if start >= 0 { _ = ftruncate(fd, start) }
            throw AdminError("cannot append to \(path): \(error)")
        }
    }

    /// The whole file, or nil if there is none. A symlink or anything but a regular file is
    /// refused — without waiting: O_NONBLOCK, or opening a FIFO would block until a writer
    /// came (a `plan load` of one held the commit lock, and with it every command and guard
    /// check). `limit`: a file over this many bytes is refused before it is read (a sparse
    /// 100 GB file would have been read whole), and no more than that is ever read.
    static func read(_ path: String, what: String, limit: Int? = nil) throws(AdminError) -> [UInt8]? {
        guard let (fd, info) = try openRegular(path, what: what) else { return nil }
        defer { Glibc.close(fd) }
        let tooLarge = { () -> AdminError in AdminError("\(what) \(path) is over \(limit ?? 0) bytes: refused") }
        if let limit, info.st_size > limit { throw tooLarge() }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw AdminError("\(what) \(path) is unreadable: \(String(cString: strerror(errno)))") }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
            // Grown since the fstat: still bounded.
            if let limit, bytes.count > limit { throw tooLarge() }
        }
    }

    /// The file's end: its last complete line and whatever follows it (a torn last line),
    /// or the whole file when it has no newline before its last byte; nil if there is no
    /// file. Read backwards in growing pieces from the end (64 KiB first): the audit log
    /// only grows, and its chain's head is its last line — reading it whole at every start
    /// and first append cost time and memory in proportion to years of records. Refused as
    /// `read` refuses (a symlink, anything but a regular file).
    static func readEnd(_ path: String, what: String) throws(AdminError) -> [UInt8]? {
        guard let (fd, info) = try openRegular(path, what: what) else { return nil }
        defer { Glibc.close(fd) }
        let size = Int(info.st_size)
        var want = min(size, 65536)
        while true {
            var tail = [UInt8](repeating: 0, count: want)
            var got = 0
            while got < want {
                let n = tail.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, want - got, off_t(size - want + got)) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw AdminError("\(what) \(path) is unreadable: \(String(cString: strerror(errno)))") }
                if n == 0 { break }
                got += n
            }
            tail.removeLast(want - got)
            // A newline before the last byte: the last complete line starts after it.
            if want == size || tail.dropLast().contains(UInt8(ascii: "\n")) { return tail }
            want = min(size, want * 4)
        }
    }

    /// Opens `path` for reading if it is a regular file (nil: there is none): never through a
    /// symlink, never waiting (O_NONBLOCK: a FIFO would block until a writer came).
    private static func openRegular(_ path: String, what: String) throws(AdminError) -> (Int32, stat)? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            switch errno {
            case ENOENT: return nil
            case ELOOP: throw AdminError("\(what) \(path) is a symlink: refused")
            default: throw AdminError("\(what) \(path) is unreadable: \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            Glibc.close(fd)
            throw AdminError("\(what) \(path) is not a regular file: refused")
        }
        return (fd, info)
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
