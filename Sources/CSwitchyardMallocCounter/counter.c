// Interposes malloc, calloc, realloc and the aligned allocators. glibc exports its own
// implementations as __libc_*, so no dlsym (which itself allocates) is needed.
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdatomic.h>
#include "CSwitchyardMallocCounter.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SY_SANITIZED 1
#endif
#endif

#ifdef SY_SANITIZED
// Sanitizers bring their own allocator; interposing it would blind them. Counting is off.
void sy_malloc_counter_enable(int on) { (void)on; }
long sy_malloc_counter_read(void) { return 0; }
long sy_malloc_counter_bytes(void) { return 0; }
int sy_malloc_counter_active(void) { return 0; }
int sy_sanitized(void) { return 1; }
#else
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Thread_local int counting = 0;
// Per thread: tests that count on different threads at once must not see each other.
static _Thread_local long counted = 0;
// Net bytes (malloc_usable_size: what the block really occupies) allocated minus freed on
// the thread while counting: what a window left behind, e.g. per idle connection.
static _Thread_local long counted_bytes = 0;

static inline void *note(void *p) {
    if (counting) {
        counted++;
        if (p) counted_bytes += (long)malloc_usable_size(p);
    }
    return p;
}

static inline void forget(void *p) {
    if (counting && p) counted_bytes -= (long)malloc_usable_size(p);
}

void *malloc(size_t size) { return note(__libc_malloc(size)); }
void *calloc(size_t n, size_t size) { return note(__libc_calloc(n, size)); }
void *realloc(void *p, size_t size) { forget(p); return note(__libc_realloc(p, size)); }
void free(void *p) { forget(p); __libc_free(p); }
void *memalign(size_t alignment, size_t size) { return note(__libc_memalign(alignment, size)); }
void *aligned_alloc(size_t alignment, size_t size) { return note(__libc_memalign(alignment, size)); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    void *p = note(__libc_memalign(alignment, size));
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void sy_malloc_counter_enable(int on) { counting = on; }
long sy_malloc_counter_read(void) { return counted; }
long sy_malloc_counter_bytes(void) { return counted_bytes; }
int sy_malloc_counter_active(void) { return 1; }
int sy_sanitized(void) { return 0; }
#endif
