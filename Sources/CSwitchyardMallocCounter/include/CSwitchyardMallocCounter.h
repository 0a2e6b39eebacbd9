// Test-only: counts heap allocations made on threads that opted in, to prove that the
// proxy's steady state allocates nothing per request. Linked only into test executables,
// where these definitions interpose glibc's malloc family for the whole process.
#ifndef C_SWITCHYARD_MALLOC_COUNTER_H
#define C_SWITCHYARD_MALLOC_COUNTER_H

/// Starts (1) or stops (0) counting allocations made by the calling thread.
void sy_malloc_counter_enable(int on);
/// Allocations counted so far on the calling thread.
long sy_malloc_counter_read(void);
/// Bytes allocated minus bytes freed on the calling thread while counting (each block's
/// malloc_usable_size): the heap a measured window left behind.
long sy_malloc_counter_bytes(void);
/// 1 when allocations are counted; 0 in sanitizer builds, which own the allocator.
int sy_malloc_counter_active(void);
/// 1 in a ThreadSanitizer or AddressSanitizer build (`make tsan`): its shadow memory counts
/// in every process's resident memory, so memory bounds do not apply there.
int sy_sanitized(void);

#endif
