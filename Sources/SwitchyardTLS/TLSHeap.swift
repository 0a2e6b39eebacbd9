import CSwitchyardTLSHeap

/// OpenSSL's heap on a worker's thread: a block cache of the thread's own, so that the
/// thousand-odd allocations and frees of a TLS handshake take blocks the previous handshake
/// freed instead of going to glibc (whose frees take the arena's lock in a process with
/// more than one thread). See CSwitchyardTLSHeap.h.
public enum TLSHeap {
    /// Whether OpenSSL allocates through it (not in sanitizer builds).
    public static var isInstalled: Bool { sy_tls_heap_installed() != 0 }

    /// Gives the calling thread its cache: a worker's thread, before its loop runs.
    public static func attachToCurrentThread() { _ = sy_tls_heap_attach() }

    /// Releases the calling thread's cache, once its loop ended.
    public static func detachFromCurrentThread() { sy_tls_heap_detach() }

    /// On the worker's tick (as the HTTP/2 heap is trimmed): when nothing was allocated
    /// since the last call, the cached blocks go back to malloc, else a quarter of those no
    /// allocation needed since. The number released.
    public static func trimCurrentThread() -> Int { sy_tls_heap_trim() }

    /// Blocks waiting on the calling thread's free lists.
    public static var cachedBlocksOnCurrentThread: Int { sy_tls_heap_cached() }
}
