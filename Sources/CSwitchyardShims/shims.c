// Wrappers for calls that need _GNU_SOURCE, kept out of the module header (see there).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/filter.h>
#include "CSwitchyardShims.h"

int sy_errno(void) { return errno; }

int sy_accept4(int fd, struct sockaddr_storage *addr, socklen_t *len, int flags) {
    return accept4(fd, (struct sockaddr *)addr, len, flags);
}
int sy_bind(int fd, const struct sockaddr_storage *addr, socklen_t len) {
    return bind(fd, (const struct sockaddr *)addr, len);
}
int sy_connect(int fd, const struct sockaddr_storage *addr, socklen_t len) {
    return connect(fd, (const struct sockaddr *)addr, len);
}
int sy_getsockname(int fd, struct sockaddr_storage *addr, socklen_t *len) {
    return getsockname(fd, (struct sockaddr *)addr, len);
}
int sy_getpeername(int fd, struct sockaddr_storage *addr, socklen_t *len) {
    return getpeername(fd, (struct sockaddr *)addr, len);
}

int sy_peercred(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    int rc = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    if (rc == 0) { *pid = cred.pid; *uid = cred.uid; *gid = cred.gid; }
    return rc;
}

int sy_hold_new_handshakes(int fd, int hold) {
    if (!hold) {
        int rc = setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, NULL, 0);
        return rc == 0 || errno == ENOENT ? 0 : -1;
    }
    // A TCP socket's filter sees the segment from its TCP header on (tcp_filter in the
    // kernel's receive path): byte 13 holds the flags, SYN 0x02 and ACK 0x10.
    static struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0),           // a new handshake: dropped (the client retries)
        BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFF),  // anything else: kept whole
    };
    struct sock_fprog program = { .len = sizeof code / sizeof code[0], .filter = code };
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program);
}

ssize_t sy_splice(int fdIn, int fdOut, size_t len) {
    return syscall(SYS_splice, fdIn, NULL, fdOut, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

// glibc's recv, send, splice and epoll_wait are cancellation points: in a process with more
// than one thread, each call sets the thread's cancellation type to asynchronous and back
// around the system call, an atomic compare-and-swap each way (`__pthread_enable_asynccancel`,
// `__pthread_disable_asynccancel`): 8.6 atomic instructions a proxied HTTP/1.1 request
// (bench/callgrind). Switchyard never cancels a thread, so these ask the kernel directly;
// syscall(2) is not a cancellation point, and returns -1 with errno like the wrappers.
ssize_t sy_recv(int fd, void *buffer, size_t length, int flags) {
    return syscall(SYS_recvfrom, fd, buffer, length, flags, NULL, NULL);
}
ssize_t sy_send(int fd, const void *buffer, size_t length, int flags) {
    return syscall(SYS_sendto, fd, buffer, length, flags, NULL, 0);
}
int sy_epoll_wait(int epfd, struct epoll_event *events, int capacity, int timeoutMilliseconds) {
    return (int)syscall(SYS_epoll_wait, epfd, events, capacity, timeoutMilliseconds);
}

int sy_pipe2_nonblocking(int fds[2]) { return pipe2(fds, O_NONBLOCK | O_CLOEXEC); }

ssize_t sy_getrandom(void *buffer, size_t length) { return getrandom(buffer, length, 0); }

void sy_release_free_memory(void) { malloc_trim(0); }

void sy_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

int sy_block_signals(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int sy_wait_signal(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    int sig = 0;
    return sigwait(&set, &sig) == 0 ? sig : -1;
}
