import Glibc

/// Passing open descriptors between processes over a Unix socket (`SCM_RIGHTS`, unix(7)):
/// an upgrade hands its listening sockets to the new process this way, so no socket is ever
/// closed with connections waiting in its queue. The control-message layout is written out
/// here because the `CMSG_*` macros do not reach Swift: a `cmsghdr`, then the descriptors,
/// each part aligned to `size_t`.
public enum DescriptorPassing {
    /// The most descriptors sent in one message (the kernel's SCM_MAX_FD is 253).
    public static let maxPerMessage = 200

    private static func align(_ n: Int) -> Int { (n + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1) }
    private static var headerSize: Int { align(MemoryLayout<cmsghdr>.size) }

    /// Sends `bytes` (at least one) with `descriptors` attached, in one `sendmsg`.
    public static func send(_ socket: FileDescriptor, _ bytes: [UInt8], descriptors: [FileDescriptor]) throws(Errno) {
        do { try untypedSend(socket, bytes, descriptors: descriptors) } catch { throw Self.errno(error) }
    }

    /// The buffer closures rethrow untyped errors; only `Errno` is ever thrown inside.
    private static func errno(_ error: any Error) -> Errno {
        guard let errno = error as? Errno else { preconditionFailure("unexpected error \(error)") }
        return errno
    }

    private static func untypedSend(_ socket: FileDescriptor, _ bytes: [UInt8], descriptors: [FileDescriptor]) throws {
        precondition(!bytes.isEmpty && descriptors.count <= maxPerMessage, "one message: some bytes, at most \(maxPerMessage) descriptors")
        let payload = descriptors.count * MemoryLayout<Int32>.size
        let space = descriptors.isEmpty ? 0 : headerSize + align(payload)
        var control = [UInt8](repeating: 0, count: max(space, 1))
        var bytes = bytes
        var sent = 0
        try control.withUnsafeMutableBytes { (controlRaw: UnsafeMutableRawBufferPointer) throws in
            if !descriptors.isEmpty {
                let header = controlRaw.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
                header.pointee.cmsg_len = headerSize + payload
                header.pointee.cmsg_level = SOL_SOCKET
                header.pointee.cmsg_type = Int32(SCM_RIGHTS)
                let numbers = descriptors.map(\.rawValue)
                numbers.withUnsafeBytes { controlRaw.baseAddress!.advanced(by: headerSize).copyMemory(from: $0.baseAddress!, byteCount: payload) }
            }
            try bytes.withUnsafeMutableBytes { (data: UnsafeMutableRawBufferPointer) throws in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                try withUnsafeMutablePointer(to: &vector) { (vectorPointer: UnsafeMutablePointer<iovec>) throws in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = space == 0 ? nil : controlRaw.baseAddress
                    message.msg_controllen = space
                    sent = try syscallValue("sendmsg(SCM_RIGHTS)") { sendmsg(socket.rawValue, &message, Int32(MSG_NOSIGNAL)) }
                }
            }
        }
        // The descriptors travel with the first byte; the rest of a short send goes plainly.
        if sent < bytes.count {
            try Array(bytes[sent...]).withUnsafeBytes { (rest: UnsafeRawBufferPointer) throws in try socket.writeAll(rest) }
        }
    }

    /// Reads what is there (blocking socket: waits for something), up to `capacity` bytes,
    /// with any descriptors attached, received close-on-exec. Zero bytes: the peer closed.
    public static func receive(_ socket: FileDescriptor, capacity: Int = 4096) throws(Errno) -> (bytes: [UInt8], descriptors: [FileDescriptor]) {
        do { return try untypedReceive(socket, capacity: capacity) } catch { throw Self.errno(error) }
    }

    private static func untypedReceive(_ socket: FileDescriptor, capacity: Int) throws -> (bytes: [UInt8], descriptors: [FileDescriptor]) {
        var data = [UInt8](repeating: 0, count: capacity)
        let space = headerSize + align(maxPerMessage * MemoryLayout<Int32>.size)
        var control = [UInt8](repeating: 0, count: space)
        var count = 0
        var descriptors: [FileDescriptor] = []
        try data.withUnsafeMutableBytes { (dataRaw: UnsafeMutableRawBufferPointer) throws in
            try control.withUnsafeMutableBytes { (controlRaw: UnsafeMutableRawBufferPointer) throws in
                var vector = iovec(iov_base: dataRaw.baseAddress, iov_len: dataRaw.count)
                try withUnsafeMutablePointer(to: &vector) { (vectorPointer: UnsafeMutablePointer<iovec>) throws in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlRaw.baseAddress
                    message.msg_controllen = space
                    count = try syscallValue("recvmsg(SCM_RIGHTS)") { recvmsg(socket.rawValue, &message, Int32(MSG_CMSG_CLOEXEC)) }
                    // Walk the control messages (CMSG_FIRSTHDR / CMSG_NXTHDR by hand).
                    var offset = 0
                    while offset + headerSize <= message.msg_controllen {
                        let header = controlRaw.baseAddress!.advanced(by: offset).assumingMemoryBound(to: cmsghdr.self).pointee
                        guard header.cmsg_len >= headerSize else { break }
                        if header.cmsg_level == SOL_SOCKET && header.cmsg_type == Int32(SCM_RIGHTS) {
                            let n = (header.cmsg_len - headerSize) / MemoryLayout<Int32>.size
                            for i in 0..<n {
                                let number = controlRaw.baseAddress!.advanced(by: offset + headerSize + i * MemoryLayout<Int32>.size)
                                    .loadUnaligned(as: Int32.self)
                                descriptors.append(FileDescriptor(rawValue: number))
                            }
                        }
                        offset += align(header.cmsg_len)
                    }
                    if message.msg_flags & Int32(MSG_CTRUNC) != 0 {
                        // More descriptors than room: the kernel closed the rest. Ours never
                        // sends more than maxPerMessage, so this is a peer we do not know.
                        for fd in descriptors { fd.close() }
                        throw Errno(code: EMSGSIZE, call: "recvmsg(SCM_RIGHTS): descriptors cut off")
                    }
                }
            }
        }
        return (Array(data[0..<count]), descriptors)
    }
}
