// See CSwitchyardBlockCache.h. Each block carries a 16-byte header before the pointer handed
// out (16 keeps malloc's alignment): its size class, or for a block above the largest class
// its requested size, which realloc needs.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "CSwitchyardBlockCache.h"

enum {
    SMALLEST_SHIFT = 5,               // 32 bytes
    CLASSES = 8,                      // 32 … 4096 bytes
    HEADER = 16,
    LARGE = 0xFF,
    MAX_BLOCKS_PER_CLASS = 1024,      // 32 KiB of 32-byte blocks … 
    MAX_BYTES_PER_CLASS = 512 * 1024, // … and no class above 512 KiB of free blocks
};

typedef struct header {
    uint32_t size_class;              // LARGE: not cached
    uint32_t magic;                   // MAGIC: a block of ours (checked when it comes back)
    uint64_t size;                    // usable bytes after the header
} header;

// A pointer that was never ours, or a block freed twice, would otherwise go on a free list
// and be handed out again: glibc's own checks no longer see these blocks. A block waiting
// on a list is marked FREED. One compare per free, and the process stops at the mistake.
#define MAGIC 0x53594243u             // "SYBC": in use
#define FREED 0x53594246u             // "SYBF": on a free list

// The header in front of a block we handed out (or hold on a free list).
static inline header *header_at(void *pointer) { return (header *)((char *)pointer - HEADER); }

// The header of a block coming back to us, which must be in use.
static inline header *header_of(void *pointer) {
    header *h = header_at(pointer);
    if (h->magic != MAGIC) abort();
    return h;
}

typedef struct free_block { struct free_block *next; } free_block;

struct sy_block_cache {
    free_block *lists[CLASSES];
    uint32_t counts[CLASSES];
    uint32_t limits[CLASSES];
    // The fewest blocks each list held since the last trim: blocks above it were not
    // needed for a whole window.
    uint32_t low[CLASSES];
    size_t allocated_since_trim;
    size_t misses;
};

_Static_assert(sizeof(header) == HEADER, "the header keeps malloc's 16-byte alignment");

static inline size_t class_size(unsigned size_class) { return (size_t)1 << (size_class + SMALLEST_SHIFT); }

// The smallest class that holds `size`, or LARGE.
static inline unsigned class_of(size_t size) {
    if (size <= class_size(0)) return 0;
    if (size > class_size(CLASSES - 1)) return LARGE;
    unsigned bits = 64 - (unsigned)__builtin_clzll((unsigned long long)(size - 1));
    return bits - SMALLEST_SHIFT;
}

sy_block_cache *sy_block_cache_new(void) {
    sy_block_cache *cache = calloc(1, sizeof *cache);
    if (!cache) return NULL;
    for (unsigned c = 0; c < CLASSES; c++) {
        size_t by_bytes = MAX_BYTES_PER_CLASS / class_size(c);
        cache->limits[c] = (uint32_t)(by_bytes < MAX_BLOCKS_PER_CLASS ? by_bytes : MAX_BLOCKS_PER_CLASS);
    }
    return cache;
}

// Frees the `n` blocks at the head of class `c`'s list.
static size_t release_some(sy_block_cache *cache, unsigned c, uint32_t n) {
    size_t released = 0;
    while (n-- > 0 && cache->lists[c]) {
        free_block *block = cache->lists[c];
        cache->lists[c] = block->next;
        cache->counts[c]--;
        free(header_at(block));
        released++;
    }
    return released;
}

static size_t release_all(sy_block_cache *cache) {
    size_t released = 0;
    for (unsigned c = 0; c < CLASSES; c++) released += release_some(cache, c, cache->counts[c]);
    return released;
}

void sy_block_cache_destroy(sy_block_cache *cache) {
    if (!cache) return;
    release_all(cache);
    free(cache);
}

// A new block from malloc: the header, marked in use, then `usable` bytes.
static void *new_block(unsigned size_class, size_t usable) {
    if (usable > SIZE_MAX - HEADER) return NULL;
    header *h = malloc(HEADER + usable);
    if (!h) return NULL;
    h->size_class = size_class;
    h->magic = MAGIC;
    h->size = usable;
    return (char *)h + HEADER;
}

void *sy_block_cache_malloc(size_t size, void *opaque) {
    sy_block_cache *cache = opaque;
    // No cache behind the calling thread: a block that goes back to malloc when freed, on
    // whichever thread frees it.
    if (!cache) return new_block(LARGE, size);
    unsigned c = class_of(size);
    cache->allocated_since_trim++;
    if (c != LARGE && cache->lists[c]) {
        free_block *block = cache->lists[c];
        cache->lists[c] = block->next;
        cache->counts[c]--;
        if (cache->counts[c] < cache->low[c]) cache->low[c] = cache->counts[c];
        header_at(block)->magic = MAGIC;
        return block;
    }
    if (c != LARGE) cache->low[c] = 0;
    cache->misses++;
    return new_block(c, c == LARGE ? size : class_size(c));
}

void sy_block_cache_free(void *pointer, void *opaque) {
    if (!pointer) return;
    sy_block_cache *cache = opaque;
    header *h = header_of(pointer);
    unsigned c = h->size_class;
    if (cache && c != LARGE && cache->counts[c] < cache->limits[c]) {
        free_block *block = pointer;
        h->magic = FREED;
        block->next = cache->lists[c];
        cache->lists[c] = block;
        cache->counts[c]++;
        return;
    }
    h->magic = 0;
    free(h);
}

void *sy_block_cache_calloc(size_t count, size_t size, void *cache) {
    if (size && count > SIZE_MAX / size) return NULL;
    void *pointer = sy_block_cache_malloc(count * size, cache);
    if (pointer) memset(pointer, 0, count * size);
    return pointer;
}

void *sy_block_cache_realloc(void *pointer, size_t size, void *cache) {
    if (!pointer) return sy_block_cache_malloc(size, cache);
    if (size == 0) {
        sy_block_cache_free(pointer, cache);
        return NULL;
    }
    header *h = header_of(pointer);
    if (size <= h->size) return pointer;
    void *bigger = sy_block_cache_malloc(size, cache);
    if (!bigger) return NULL;      // like realloc: the old block stays valid
    memcpy(bigger, pointer, h->size);
    sy_block_cache_free(pointer, cache);
    return bigger;
}

size_t sy_block_cache_trim(sy_block_cache *cache) {
    size_t allocated = cache->allocated_since_trim;
    cache->allocated_since_trim = 0;
    size_t released = 0;
    if (allocated == 0) {
        released = release_all(cache);
    } else {
        // Traffic goes on: a quarter of what no allocation needed for the whole window, so
        // a burst's peak goes back gradually (as the worker's buffer pools do).
        for (unsigned c = 0; c < CLASSES; c++) {
            uint32_t unused = cache->low[c] < cache->counts[c] ? cache->low[c] : cache->counts[c];
            if (unused > 0) released += release_some(cache, c, unused / 4 > 0 ? unused / 4 : 1);
        }
    }
    for (unsigned c = 0; c < CLASSES; c++) cache->low[c] = cache->counts[c];
    return released;
}

size_t sy_block_cache_cached(const sy_block_cache *cache) {
    size_t total = 0;
    for (unsigned c = 0; c < CLASSES; c++) total += cache->counts[c];
    return total;
}

size_t sy_block_cache_misses(const sy_block_cache *cache) { return cache->misses; }
