// Where OpenSSL writes a connection's records for the network: a write-only BIO that keeps
// them in one buffer of its own, for the caller to send straight from it.
//
// Why not a memory BIO (BIO_s_mem): each write to one zeroes the bytes it is about to
// fill (BUF_MEM_grow_clean) before copying into them, and reading them out is one more
// copy. For an answer's body that was two extra passes over every byte on the way out
// (callgrind: memset 1 instruction and memcpy about 2 a byte of a 256 KiB answer).
//
// With a socket lent (`sy_sink_bio_lend_socket`, while the caller encrypts an answer), a
// full record skips the buffer: it goes from OpenSSL's record buffer to the socket, after
// what waits, and only what the socket refuses is kept: one copy of every byte of a
// large answer less.
//
// One connection's, on one thread. The buffer grows (never zeroed) to what the writes
// need, at most 84 KiB unless a single write needs more, and keeps its size for the
// connection's life, as a memory BIO keeps its own: a steady stream of answers allocates
// nothing, and a connection of small answers keeps a few KiB.
#ifndef C_SWITCHYARD_CIPHERTEXT_SINK_H
#define C_SWITCHYARD_CIPHERTEXT_SINK_H

#include <stddef.h>
#include <openssl/bio.h>

/// A new sink BIO (NULL when out of memory). `SSL_set_bio` takes it like any other BIO;
/// `BIO_ctrl_pending` on it says how many bytes wait.
BIO *sy_sink_bio_new(void);
/// The bytes waiting to be sent: how many, and where the first is (NULL when none).
size_t sy_sink_bio_pending(BIO *bio);
const unsigned char *sy_sink_bio_data(BIO *bio);
/// The first `count` waiting bytes were sent (`count` ≤ pending).
void sy_sink_bio_consume(BIO *bio, size_t count);
/// Lends the connection's socket for the writes that follow (-1 takes it back): a record
/// of 8 KiB or more is then sent straight from OpenSSL's buffer, together with what
/// waits (one `sendmsg`), and only what the socket does not take is kept. Lend it only
/// while no one else sends on the socket, and send what waits after, as always.
void sy_sink_bio_lend_socket(BIO *bio, int fd);
/// Bytes of records sent straight to a lent socket so far (tests, measurements).
unsigned long long sy_sink_bio_direct_bytes(BIO *bio);

#endif
