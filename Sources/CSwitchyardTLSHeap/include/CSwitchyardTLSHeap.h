// OpenSSL's heap, routed through a block cache per worker thread (CSwitchyardBlockCache).
//
// Why: a full TLS handshake makes about 1,100 allocations and as many frees in OpenSSL, and
// glibc serves the frees beyond its small per-thread cache under the arena's lock (an
// atomic), as every thread of a process with more than one thread does. On the worker that
// handshakes, freed blocks wait on its free lists for the next handshake instead.
//
// OpenSSL takes its allocator once per process and only before its first allocation, so it
// is installed by a constructor, before main and before any thread; a thread without a
// cache (the main thread, the admin threads) gets malloc's blocks with the cache's header,
// and any thread may free any block. Not installed in sanitizer builds, whose allocator
// must see every block to find misuse.
#ifndef C_SWITCHYARD_TLS_HEAP_H
#define C_SWITCHYARD_TLS_HEAP_H

#include <stddef.h>

/// 1 when OpenSSL allocates through this heap.
int sy_tls_heap_installed(void);
/// Gives the calling thread a cache of its own (a worker, from its first to its last
/// handshake). 0 when out of memory or not installed (its OpenSSL blocks are then malloc's).
int sy_tls_heap_attach(void);
/// Releases the calling thread's cache and its cached blocks; before the thread ends.
void sy_tls_heap_detach(void);
/// The calling thread's cache trimmed as `sy_block_cache_trim` does; blocks released.
size_t sy_tls_heap_trim(void);
/// Blocks waiting on the calling thread's free lists.
size_t sy_tls_heap_cached(void);

#endif
