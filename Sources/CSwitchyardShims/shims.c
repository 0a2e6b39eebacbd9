// Wrappers for calls that need _GNU_SOURCE, kept out of the module header (see there).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
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
    return splice(fdIn, NULL, fdOut, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
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
