import CSwitchyardShims
import Glibc

/// Runs a system call the way every call in Switchyard is run:
/// - EINTR is retried (a signal is never an error to us);
/// - EAGAIN / EWOULDBLOCK becomes `.wouldBlock` when `blocking` is false;
/// - EBADF and EFAULT can only mean that we passed a closed descriptor or a bad pointer —
///   our own bug — so they stop the process at once instead of corrupting another fd;
/// - anything else is thrown as `Errno` carrying the call's name.
@inline(__always)
public func syscall<T: FixedWidthInteger>(
    blocking: Bool = false, _ name: @autoclosure () -> String, _ body: () -> T
) throws(Errno) -> IOResult<T> {
    while true {
        let result = body()
        if result != -1 { return .processed(result) }
        let err = sy_errno()
        switch err {
        case EINTR:
            continue
        case EAGAIN where !blocking, EWOULDBLOCK where !blocking:
            return .wouldBlock
        case EBADF, EFAULT:
            preconditionFailure("\(name()) failed with \(String(cString: strerror(err))): a bug in Switchyard")
        default:
            throw Errno(code: err, call: name())
        }
    }
}

/// Like `syscall` for calls that cannot return EAGAIN (setup calls): returns the value.
@inline(__always)
public func syscallValue<T: FixedWidthInteger>(_ name: @autoclosure () -> String, _ body: () -> T) throws(Errno) -> T {
    switch try syscall(blocking: true, name(), body) {
    case .processed(let value): return value
    case .wouldBlock: preconditionFailure("blocking call returned wouldBlock")
    }
}
