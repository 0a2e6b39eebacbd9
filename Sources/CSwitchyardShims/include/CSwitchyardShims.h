// The kernel surface Swift's Glibc module does not give us: epoll, eventfd, timerfd, splice,
// SO_PEERCRED, getrandom, and glibc's transparent-union socket calls (with _GNU_SOURCE,
// accept4/bind/connect take `__SOCKADDR_ARG`, which Swift can neither build nor pass nil for).
//
// This header defines no feature macros: headers seen with _GNU_SOURCE produce declarations
// that differ from the ones in Swift's Glibc module, and clang refuses the mix. The calls
// that need _GNU_SOURCE are wrapped in shims.c, which defines it.
#ifndef C_SWITCHYARD_SHIMS_H
#define C_SWITCHYARD_SHIMS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

// epoll's event bits are enum constants in glibc; give Swift plain integers.
static const uint32_t SY_EPOLLIN = EPOLLIN;
static const uint32_t SY_EPOLLOUT = EPOLLOUT;
static const uint32_t SY_EPOLLERR = EPOLLERR;
static const uint32_t SY_EPOLLHUP = EPOLLHUP;
static const uint32_t SY_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t SY_EPOLLET = EPOLLET;

int sy_errno(void);
int sy_accept4(int fd, struct sockaddr_storage *addr, socklen_t *len, int flags);
int sy_bind(int fd, const struct sockaddr_storage *addr, socklen_t len);
int sy_connect(int fd, const struct sockaddr_storage *addr, socklen_t len);
int sy_getsockname(int fd, struct sockaddr_storage *addr, socklen_t *len);
int sy_getpeername(int fd, struct sockaddr_storage *addr, socklen_t *len);

/// Credentials of the process at the other end of a Unix socket (socket(7), SO_PEERCRED).
int sy_peercred(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

/// Shutdown of a listening socket: with `hold` 1, a filter drops segments that would start
/// a new handshake (SYN without ACK), so that no new client completes one, while handshakes
/// already begun finish and their connections can still be accepted; with `hold` 0 the
/// filter is removed (none attached is not an error). Returns 0 or -1 with errno.
int sy_hold_new_handshakes(int fd, int hold);

/// splice(2) between two descriptors (one a pipe), non-blocking, moving pages if it can.
ssize_t sy_splice(int fdIn, int fdOut, size_t len);
/// recv(2), send(2) and epoll_wait(2) as plain system calls, not glibc's cancellation-point
/// wrappers (two atomic instructions a call in a threaded process; see shims.c).
ssize_t sy_recv(int fd, void *buffer, size_t length, int flags);
ssize_t sy_send(int fd, const void *buffer, size_t length, int flags);
int sy_epoll_wait(int epfd, struct epoll_event *events, int capacity, int timeoutMilliseconds);
int sy_pipe2_nonblocking(int fds[2]);

/// getrandom(2) into `buffer`; returns bytes written or -1.
ssize_t sy_getrandom(void *buffer, size_t length);
/// Gives the pages of free heap memory back to the kernel (glibc's malloc_trim(0)), also
/// those in the middle of the heap, which glibc keeps otherwise.
void sy_release_free_memory(void);

/// SIGPIPE ignored for the whole process: a peer that vanished must be an EPIPE, not a kill.
void sy_ignore_sigpipe(void);
/// Blocks `signals` in the calling thread (and threads it creates afterwards), so that one
/// thread can take them with sigwait.
int sy_block_signals(const int *signals, int count);
/// Waits for one of `signals` (which must be blocked); returns its number or -1.
int sy_wait_signal(const int *signals, int count);

#endif
