import CNGHTTP2
import CSwitchyardBlockCache

/// The heap nghttp2 allocates from for one worker's HTTP/2 sessions: freed blocks wait on
/// per-size free lists (`CSwitchyardBlockCache`) for the next stream, so a stream's frames,
/// header buffers and bookkeeping call malloc only while the worker's traffic grows — four
/// mallocs and as many frees a request before, each taking glibc's arena lock (an atomic)
/// when its thread cache was empty. One thread only: the worker's loop. Every session
/// holds it, so it outlives them.
public final class H2Memory {
    private let cache: OpaquePointer

    public init() {
        guard let cache = sy_block_cache_new() else { preconditionFailure("out of memory for a block cache") }
        self.cache = cache
    }

    deinit { sy_block_cache_destroy(cache) }

    /// What nghttp2 copies into a session it creates.
    var allocator: nghttp2_mem {
        nghttp2_mem(mem_user_data: UnsafeMutableRawPointer(cache),
                    malloc: sy_block_cache_malloc, free: sy_block_cache_free,
                    calloc: sy_block_cache_calloc, realloc: sy_block_cache_realloc)
    }

    /// On the worker's tick, once a second: when nothing was allocated since the last call,
    /// the cached blocks go back to malloc, else a quarter of those no allocation needed
    /// since. The number released.
    public func trim() -> Int { sy_block_cache_trim(cache) }

    /// Blocks waiting on the free lists.
    public var cachedBlocks: Int { sy_block_cache_cached(cache) }
    /// Allocations the free lists could not serve since the start.
    public var misses: Int { sy_block_cache_misses(cache) }
}
