#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a file could not be read, in words for the operator.
struct FileReadFailure: Error {
    var message: String
}

/// Reads a routes file whole. Plain POSIX calls so the reason is the system's own words
/// ("No such file or directory"), not a framework paraphrase. Off the request path.
func readWholeFile(_ path: String) -> Result<String, FileReadFailure> {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 {
        return .failure(FileReadFailure(message: String(cString: strerror(errno))))
    }
    // close(2) is not retried: after EINTR the descriptor state is unspecified on Linux.
    defer { _ = close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return .failure(FileReadFailure(message: String(cString: strerror(errno))))
        }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        return .failure(FileReadFailure(message: "not valid UTF-8"))
    }
    return .success(text)
}
