// See CSwitchyardBlockCache.h, which also holds the layout (the header in front of each
// block, the cache's lists) and the inline hit and free paths this file's functions share.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "CSwitchyardBlockCache.h"

enum {
    MAX_BLOCKS_PER_CLASS = 1024,      // 32 KiB of 32-byte blocks …
    MAX_BYTES_PER_CLASS = 512 * 1024, // … and no class above 512 KiB of free blocks
};

_Static_assert(sizeof(sy_block_header) == SY_BLOCK_HEADER, "the header keeps malloc's 16-byte alignment");

// The header of a block coming back to us, which must be in use.
static inline sy_block_header *header_of(void *pointer) {
    sy_block_header *h = sy_block_header_at(pointer);
    if (h->magic != SY_BLOCK_MAGIC) abort();
    return h;
}

sy_block_cache *sy_block_cache_new(void) {
    sy_block_cache *cache = calloc(1, sizeof *cache);
    if (!cache) return NULL;
    for (unsigned c = 0; c < SY_BLOCK_CLASSES; c++) {
        size_t by_bytes = MAX_BYTES_PER_CLASS / sy_block_class_size(c);
        cache->limits[c] = (uint32_t)(by_bytes < MAX_BLOCKS_PER_CLASS ? by_bytes : MAX_BLOCKS_PER_CLASS);
    }
    return cache;
}

// Frees the `n` blocks at the head of class `c`'s list.
static size_t release_some(sy_block_cache *cache, unsigned c, uint32_t n) {
    size_t released = 0;
    while (n-- > 0 && cache->lists[c]) {
        sy_free_block *block = cache->lists[c];
        cache->lists[c] = block->next;
        cache->counts[c]--;
        free(sy_block_header_at(block));
        released++;
    }
    return released;
}

static size_t release_all(sy_block_cache *cache) {
    size_t released = 0;
    for (unsigned c = 0; c < SY_BLOCK_CLASSES; c++) released += release_some(cache, c, cache->counts[c]);
    return released;
}

void sy_block_cache_destroy(sy_block_cache *cache) {
    if (!cache) return;
    release_all(cache);
    free(cache);
}

// A new block from malloc: the header, marked in use, then `usable` bytes.
static void *new_block(unsigned size_class, size_t usable) {
    if (usable > SIZE_MAX - SY_BLOCK_HEADER) return NULL;
    sy_block_header *h = malloc(SY_BLOCK_HEADER + usable);
    if (!h) return NULL;
    h->size_class = size_class;
    h->magic = SY_BLOCK_MAGIC;
    h->size = usable;
    return (char *)h + SY_BLOCK_HEADER;
}

void *sy_block_cache_malloc(size_t size, void *opaque) {
    sy_block_cache *cache = opaque;
    // No cache behind the calling thread: a block that goes back to malloc when freed, on
    // whichever thread frees it.
    if (!cache) return new_block(SY_BLOCK_LARGE, size);
    unsigned c = sy_block_class_of(size);
    if (c != SY_BLOCK_LARGE) {
        void *block = sy_block_cache_pop(cache, c);
        if (block) return block;
        cache->low[c] = 0;
    }
    cache->allocated_since_trim++;
    cache->misses++;
    return new_block(c, c == SY_BLOCK_LARGE ? size : sy_block_class_size(c));
}

void sy_block_cache_free(void *pointer, void *opaque) {
    if (!pointer) return;
    sy_block_cache *cache = opaque;
    sy_block_header *h = header_of(pointer);
    if (cache && sy_block_cache_push(cache, pointer)) return;
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
    sy_block_header *h = header_of(pointer);
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
        for (unsigned c = 0; c < SY_BLOCK_CLASSES; c++) {
            uint32_t unused = cache->low[c] < cache->counts[c] ? cache->low[c] : cache->counts[c];
            if (unused > 0) released += release_some(cache, c, unused / 4 > 0 ? unused / 4 : 1);
        }
    }
    for (unsigned c = 0; c < SY_BLOCK_CLASSES; c++) cache->low[c] = cache->counts[c];
    return released;
}

size_t sy_block_cache_cached(const sy_block_cache *cache) {
    size_t total = 0;
    for (unsigned c = 0; c < SY_BLOCK_CLASSES; c++) total += cache->counts[c];
    return total;
}

size_t sy_block_cache_misses(const sy_block_cache *cache) { return cache->misses; }
