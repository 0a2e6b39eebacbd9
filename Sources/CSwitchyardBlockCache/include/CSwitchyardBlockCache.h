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

// The layout and the two fast paths, inline for C callers in other files: OpenSSL calls its
// allocator (CSwitchyardTLSHeap) about 1,700 times a full handshake, frees of NULL among
// them, and a call through to the functions above was a third of the heap's instructions.
// Hidden from Swift, which keeps seeing an opaque cache and the functions above.
#ifndef __swift__
#include <stdint.h>

enum {
    SY_BLOCK_SMALLEST_SHIFT = 5,      // 32 bytes
    SY_BLOCK_CLASSES = 10,            // 32 … 16384 bytes
    SY_BLOCK_HEADER = 16,
    SY_BLOCK_LARGE = 0xFF,
};

// A pointer that was never ours, or a block freed twice, would otherwise go on a free list
// and be handed out again: glibc's own checks no longer see these blocks. A block waiting
// on a list is marked FREED. One compare per free, and the process stops at the mistake.
#define SY_BLOCK_MAGIC 0x53594243u    // "SYBC": in use
#define SY_BLOCK_FREED 0x53594246u    // "SYBF": on a free list

// 16 bytes before the pointer handed out (16 keeps malloc's alignment): the block's size
// class, or for a block above the largest class its requested size, which realloc needs.
typedef struct sy_block_header {
    uint32_t size_class;              // SY_BLOCK_LARGE: not cached
    uint32_t magic;                   // SY_BLOCK_MAGIC: a block of ours in use
    uint64_t size;                    // usable bytes after the header
} sy_block_header;

typedef struct sy_free_block { struct sy_free_block *next; } sy_free_block;

struct sy_block_cache {
    sy_free_block *lists[SY_BLOCK_CLASSES];
    uint32_t counts[SY_BLOCK_CLASSES];
    uint32_t limits[SY_BLOCK_CLASSES];
    // The fewest blocks each list held since the last trim: blocks above it were not
    // needed for a whole window.
    uint32_t low[SY_BLOCK_CLASSES];
    size_t allocated_since_trim;
    size_t misses;
};

// The header in front of a block we handed out (or hold on a free list).
static inline sy_block_header *sy_block_header_at(void *pointer) {
    return (sy_block_header *)((char *)pointer - SY_BLOCK_HEADER);
}

static inline size_t sy_block_class_size(unsigned size_class) {
    return (size_t)1 << (size_class + SY_BLOCK_SMALLEST_SHIFT);
}

// The smallest class that holds `size`, or SY_BLOCK_LARGE.
static inline unsigned sy_block_class_of(size_t size) {
    if (size <= sy_block_class_size(0)) return 0;
    if (size > sy_block_class_size(SY_BLOCK_CLASSES - 1)) return SY_BLOCK_LARGE;
    unsigned bits = 64 - (unsigned)__builtin_clzll((unsigned long long)(size - 1));
    return bits - SY_BLOCK_SMALLEST_SHIFT;
}

// The head of class `c`'s free list, marked in use, or NULL when the list is empty.
static inline void *sy_block_cache_pop(sy_block_cache *cache, unsigned c) {
    sy_free_block *block = cache->lists[c];
    if (!block) return NULL;
    cache->lists[c] = block->next;
    cache->allocated_since_trim++;
    if (--cache->counts[c] < cache->low[c]) cache->low[c] = cache->counts[c];
    sy_block_header_at(block)->magic = SY_BLOCK_MAGIC;
    return block;
}

// Puts `pointer`, a block of ours in use, on its class's free list when the list has room:
// 1 when kept, 0 when it is for malloc (the caller frees it).
static inline int sy_block_cache_push(sy_block_cache *cache, void *pointer) {
    sy_block_header *h = sy_block_header_at(pointer);
    unsigned c = h->size_class;
    if (c == SY_BLOCK_LARGE || cache->counts[c] >= cache->limits[c]) return 0;
    sy_free_block *block = pointer;
    h->magic = SY_BLOCK_FREED;
    block->next = cache->lists[c];
    cache->lists[c] = block;
    cache->counts[c]++;
    return 1;
}

// sy_block_cache_malloc with the hit inline.
static inline void *sy_block_cache_take(size_t size, sy_block_cache *cache) {
    if (cache) {
        unsigned c = sy_block_class_of(size);
        if (c != SY_BLOCK_LARGE) {
            void *block = sy_block_cache_pop(cache, c);
            if (block) return block;
        }
    }
    return sy_block_cache_malloc(size, cache);
}

// sy_block_cache_free with NULL and the cached case inline; anything else (a block for
// malloc, or a pointer that is not ours, which stops the process) goes the long way.
static inline void sy_block_cache_give(void *pointer, sy_block_cache *cache) {
    if (!pointer) return;
    if (cache && sy_block_header_at(pointer)->magic == SY_BLOCK_MAGIC && sy_block_cache_push(cache, pointer)) return;
    sy_block_cache_free(pointer, cache);
}
#endif

#endif
