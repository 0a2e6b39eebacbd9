// See CSwitchyardTLSHeap.h.
#include <openssl/crypto.h>
#include "CSwitchyardBlockCache.h"
#include "CSwitchyardTLSHeap.h"

#if defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#    define SY_SANITIZED 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define SY_SANITIZED 1
#endif

static __thread sy_block_cache *thread_cache;
static int installed;

// The hit and the free inline (CSwitchyardBlockCache.h): a handshake makes about 1,700 of
// these calls.
static void *heap_malloc(size_t size, const char *file, int line) {
    (void)file; (void)line;
    return sy_block_cache_take(size, thread_cache);
}

static void *heap_realloc(void *pointer, size_t size, const char *file, int line) {
    (void)file; (void)line;
    return sy_block_cache_realloc(pointer, size, thread_cache);
}

static void heap_free(void *pointer, const char *file, int line) {
    (void)file; (void)line;
    sy_block_cache_give(pointer, thread_cache);
}

// Before main: OpenSSL refuses an allocator once it has allocated, and a block it got from
// malloc must never reach heap_free (it has no header).
__attribute__((constructor)) static void install(void) {
#ifndef SY_SANITIZED
    installed = CRYPTO_set_mem_functions(heap_malloc, heap_realloc, heap_free);
#endif
}

int sy_tls_heap_installed(void) { return installed; }

int sy_tls_heap_attach(void) {
    if (!installed) return 0;
    if (!thread_cache) thread_cache = sy_block_cache_new();
    return thread_cache != NULL;
}

void sy_tls_heap_detach(void) {
    sy_block_cache *cache = thread_cache;
    thread_cache = NULL;
    sy_block_cache_destroy(cache);
}

size_t sy_tls_heap_trim(void) { return thread_cache ? sy_block_cache_trim(thread_cache) : 0; }

size_t sy_tls_heap_cached(void) { return thread_cache ? sy_block_cache_cached(thread_cache) : 0; }
