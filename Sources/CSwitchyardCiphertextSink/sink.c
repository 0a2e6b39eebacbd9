#include "CSwitchyardCiphertextSink.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

// The bytes waiting are [start, end) of data; capacity is data's size. `fd`: the socket
// lent for the current write (-1 when none); `direct`: bytes of records sent straight to it.
typedef struct {
    unsigned char *data;
    size_t capacity;
    size_t start;
    size_t end;
    int fd;
    unsigned long long direct;
} sy_sink;

// A record at least this long goes straight to a lent socket: an answer's body, in full
// records of 16 KiB. Shorter ones (a small answer, a session ticket, an alert) wait, so
// that what one write makes leaves in one send, as before.
enum { sy_sink_direct_min = 8 * 1024 };

// The most a connection's sink needs: what `TLSSession.writePlaintext` lets wait (its
// 64 KiB limit and one record more, 16 KiB and its overhead).
enum { sy_sink_busy_capacity = 84 * 1024 };

// The buffer's next size when `need` bytes must fit: a page-rounded `need` at first (a
// handshake's flight, a few KiB, which is all a connection of small answers keeps), then
// doubling up to the busy size: a connection holds what its answers needed, not more.
static size_t next_capacity(size_t capacity, size_t need) {
    size_t doubled = capacity * 2 < sy_sink_busy_capacity ? capacity * 2 : sy_sink_busy_capacity;
    size_t rounded = (need + 4095) & ~(size_t)4095;
    return rounded > doubled ? rounded : doubled;
}

// Sends what waits and then `count` bytes of `in`, in one call. Returns how many bytes of
// `in` went; what waits is consumed as far as it went. A send refused (EAGAIN, a reset,
// an interrupt) sends nothing: the caller keeps every byte, and its own send meets the
// same condition and reports it.
static size_t send_direct(sy_sink *sink, const char *in, size_t count) {
    size_t waiting = sink->end - sink->start;
    struct iovec parts[2];
    int used = 0;
    if (waiting > 0) parts[used++] = (struct iovec){ sink->data + sink->start, waiting };
    parts[used++] = (struct iovec){ (void *)in, count };
    struct msghdr message = { .msg_iov = parts, .msg_iovlen = (size_t)used };
    // A plain system call: glibc's sendmsg is a cancellation point, with two atomic
    // instructions around the call in a threaded process (see sy_recv in CSwitchyardShims).
    ssize_t sent = syscall(SYS_sendmsg, sink->fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent <= 0) return 0;
    size_t went = (size_t)sent;
    if (went < waiting) {
        sink->start += went;
        return 0;
    }
    sink->start = 0;
    sink->end = 0;
    went -= waiting;
    sink->direct += went;
    return went;
}

static int sink_write(BIO *bio, const char *in, int length) {
    BIO_clear_retry_flags(bio);
    if (length <= 0) return 0;
    sy_sink *sink = BIO_get_data(bio);
    size_t count = (size_t)length;
    if (sink->fd >= 0 && count >= sy_sink_direct_min) {
        // Straight from OpenSSL's record buffer to the socket: no copy into the sink.
        size_t went = send_direct(sink, in, count);
        in += went;
        count -= went;
        if (count == 0) return length;
    }
    if (sink->capacity - sink->end < count) {
        // Room at the front first (what was sent), then a bigger buffer.
        if (sink->start > 0) {
            memmove(sink->data, sink->data + sink->start, sink->end - sink->start);
            sink->end -= sink->start;
            sink->start = 0;
        }
        if (sink->capacity - sink->end < count) {
            size_t capacity = next_capacity(sink->capacity, sink->end + count);
            unsigned char *grown = realloc(sink->data, capacity);
            if (grown == NULL) return -1;
            sink->data = grown;
            sink->capacity = capacity;
        }
    }
    memcpy(sink->data + sink->end, in, count);
    sink->end += count;
    return length;
}

static long sink_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)number;
    (void)pointer;
    sy_sink *sink = BIO_get_data(bio);
    switch (command) {
    case BIO_CTRL_PENDING:
    case BIO_CTRL_WPENDING:
        return (long)(sink->end - sink->start);
    case BIO_CTRL_FLUSH:
        // Nothing to push: the caller sends what waits.
        return 1;
    default:
        // Everything else (kTLS, datagram options, duplication) is not ours to support.
        return 0;
    }
}

static int sink_create(BIO *bio) {
    sy_sink *sink = calloc(1, sizeof *sink);
    if (sink == NULL) return 0;
    sink->fd = -1;
    BIO_set_data(bio, sink);
    BIO_set_init(bio, 1);
    return 1;
}

static int sink_destroy(BIO *bio) {
    sy_sink *sink = BIO_get_data(bio);
    if (sink != NULL) {
        free(sink->data);
        free(sink);
    }
    BIO_set_data(bio, NULL);
    return 1;
}

static BIO_METHOD *sink_method;
static pthread_once_t sink_method_once = PTHREAD_ONCE_INIT;

static void make_sink_method(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "switchyard ciphertext sink");
    if (method == NULL) return;
    if (!BIO_meth_set_write(method, sink_write) || !BIO_meth_set_ctrl(method, sink_ctrl)
        || !BIO_meth_set_create(method, sink_create) || !BIO_meth_set_destroy(method, sink_destroy)) {
        BIO_meth_free(method);
        return;
    }
    sink_method = method;
}

BIO *sy_sink_bio_new(void) {
    pthread_once(&sink_method_once, make_sink_method);
    return sink_method != NULL ? BIO_new(sink_method) : NULL;
}

size_t sy_sink_bio_pending(BIO *bio) {
    sy_sink *sink = BIO_get_data(bio);
    return sink->end - sink->start;
}

const unsigned char *sy_sink_bio_data(BIO *bio) {
    sy_sink *sink = BIO_get_data(bio);
    return sink->end > sink->start ? sink->data + sink->start : NULL;
}

void sy_sink_bio_consume(BIO *bio, size_t count) {
    sy_sink *sink = BIO_get_data(bio);
    if (count > sink->end - sink->start) count = sink->end - sink->start;
    sink->start += count;
    if (sink->start == sink->end) {
        sink->start = 0;
        sink->end = 0;
    }
}

void sy_sink_bio_lend_socket(BIO *bio, int fd) {
    sy_sink *sink = BIO_get_data(bio);
    sink->fd = fd;
}

unsigned long long sy_sink_bio_direct_bytes(BIO *bio) {
    sy_sink *sink = BIO_get_data(bio);
    return sink->direct;
}
