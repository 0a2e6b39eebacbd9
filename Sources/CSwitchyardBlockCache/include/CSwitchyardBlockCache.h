// A worker's cache of small heap blocks, for a C library that takes an allocator (nghttp2's
// nghttp2_mem): blocks freed go on a free list of their size class and the next allocation
// of that class takes one back, so a worker serving HTTP/2 streams in steady state calls
// malloc (and takes glibc's arena lock) for none of them.
//
// One thread only: a cache belongs to one worker's loop, like everything that uses it. The
// function signatures are nghttp2's (`nghttp2_malloc`, `nghttp2_free`, `nghttp2_calloc`,
// `nghttp2_realloc`), the cache being their `mem_user_data`.
#ifndef C_SWITCHYARD_BLOCK_CACHE_H
#define C_SWITCHYARD_BLOCK_CACHE_H

#include <stddef.h>

typedef struct sy_block_cache sy_block_cache;

/// A new, empty cache; NULL when out of memory.
sy_block_cache *sy_block_cache_new(void);
/// Frees the cache and the blocks on its free lists. Blocks still in use must not be freed
/// through it afterwards (the owner outlives every session that uses it).
void sy_block_cache_destroy(sy_block_cache *cache);

// `cache` may be NULL (a thread without one, see CSwitchyardTLSHeap): blocks are then
// malloc's, with the same header, and a block may be freed through any cache or none.
void *sy_block_cache_malloc(size_t size, void *cache);
void sy_block_cache_free(void *pointer, void *cache);
void *sy_block_cache_calloc(size_t count, size_t size, void *cache);
void *sy_block_cache_realloc(void *pointer, size_t size, void *cache);

/// Called once a second or so: when nothing was allocated since the last call (the traffic
/// stopped), every cached block goes back to malloc; otherwise a quarter of the blocks no
/// allocation needed since the last call. Returns the number released.
size_t sy_block_cache_trim(sy_block_cache *cache);

/// Blocks on the free lists, and allocations the lists could not serve (malloc was called),
/// since the cache was made: for tests and for judging the class limits.
size_t sy_block_cache_cached(const sy_block_cache *cache);
size_t sy_block_cache_misses(const sy_block_cache *cache);

#endif
