/// Bytes computed once at table build time and compared on the request path: host names,
/// header and cookie names (lower-cased where the comparison is case-insensitive), values.
///
/// A class owning raw memory rather than an `[UInt8]` so the hot path gets an
/// `UnsafeRawBufferPointer` without a closure (`withUnsafeBytes` would have to capture the
/// borrowed request). Immutable after `init` and freed in `deinit`, hence `@unchecked Sendable`.
final class ByteString: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    private let storage: UnsafeMutableRawPointer

    init(_ text: String, lowercased: Bool = false) {
        let utf8 = Array((lowercased ? text.lowercased() : text).utf8)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(utf8.count, 1), alignment: 1)
        utf8.withUnsafeBytes { if let base = $0.baseAddress { memory.copyMemory(from: base, byteCount: $0.count) } }
        storage = memory
        bytes = UnsafeRawBufferPointer(start: memory, count: utf8.count)
    }

    deinit {
        storage.deallocate()
    }
}

// Allocation-free comparisons over request bytes. Index loops rather than for-in: an
// unspecialized iterator allocates in debug builds (see `RouteTable.route`).
enum ByteMatch {
    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        byte &- 0x41 < 26 ? byte | 0x20 : byte
    }

    /// `bytes` equals `lowercased` ignoring ASCII case (`lowercased` is already lower-case).
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercased: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count == lowercased.count else { return false }
        var i = 0
        while i < bytes.count {
            if lower(bytes[i]) != lowercased[i] { return false }
            i += 1
        }
        return true
    }

    static func equals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var i = 0
        while i < a.count {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    /// The path-prefix rule shared by routes and path cohorts. A prefix ending in '/' matches
    /// any path that starts with it (`/auth/` matches `/auth/login`, not `/auth`). Any other
    /// prefix matches itself and what lies below it (`/auth` matches `/auth` and `/auth/x`,
    /// never `/authz`), so a missing slash cannot capture a neighbouring service.
    static func pathMatches(_ path: UnsafeRawBufferPointer, prefix: UnsafeRawBufferPointer) -> Bool {
        guard path.count >= prefix.count else { return false }
        var i = 0
        while i < prefix.count {
            if path[i] != prefix[i] { return false }
            i += 1
        }
        if prefix.count == 0 || prefix[prefix.count - 1] == 0x2F || path.count == prefix.count { return true }
        return path[prefix.count] == 0x2F
    }

    /// The host part of a Host header: surrounding whitespace, a `:port` suffix and one
    /// trailing dot removed; an `[IPv6]` literal keeps its brackets.
    static func hostWithoutPort(_ host: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0, end = host.count
        while start < end && (host[start] == 0x20 || host[start] == 0x09) { start += 1 }
        while end > start && (host[end - 1] == 0x20 || host[end - 1] == 0x09) { end -= 1 }
        if start < end && host[start] == 0x5B {  // '['
            var i = start
            while i < end && host[i] != 0x5D { i += 1 }  // ']'
            end = min(i + 1, end)
        } else {
            var i = start
            while i < end && host[i] != 0x3A { i += 1 }  // ':'
            end = i
            if end > start && host[end - 1] == 0x2E { end -= 1 }  // '.'
        }
        return UnsafeRawBufferPointer(rebasing: host[start..<end])
    }

    /// Trims optional whitespace (RFC 9110 OWS) from both ends of a field value.
    static func trimmed(_ value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0, end = value.count
        while start < end && (value[start] == 0x20 || value[start] == 0x09) { start += 1 }
        while end > start && (value[end - 1] == 0x20 || value[end - 1] == 0x09) { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: value[start..<end])
    }

    /// The value of the cookie `name` in a Cookie header (`a=b; c=d`), without surrounding
    /// double quotes; nil when absent. Names compare case-sensitively, as browsers send them.
    static func cookie(_ name: UnsafeRawBufferPointer, in header: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var i = 0
        let n = header.count
        while i < n {
            while i < n && (header[i] == 0x20 || header[i] == 0x09 || header[i] == 0x3B) { i += 1 }
            let nameStart = i
            while i < n && header[i] != 0x3D && header[i] != 0x3B { i += 1 }  // '=' ';'
            var nameEnd = i
            while nameEnd > nameStart && (header[nameEnd - 1] == 0x20 || header[nameEnd - 1] == 0x09) { nameEnd -= 1 }
            guard i < n && header[i] == 0x3D else { continue }  // a pair without '=' is skipped
            i += 1
            let valueStart = i
            while i < n && header[i] != 0x3B { i += 1 }
            let candidate = UnsafeRawBufferPointer(rebasing: header[nameStart..<nameEnd])
            guard equals(candidate, name) else { continue }
            var value = trimmed(UnsafeRawBufferPointer(rebasing: header[valueStart..<i]))
            if value.count >= 2 && value[0] == 0x22 && value[value.count - 1] == 0x22 {
                value = UnsafeRawBufferPointer(rebasing: value[1..<(value.count - 1)])
            }
            return value
        }
        return nil
    }
}
