// OpenSSL for Swift. Many OpenSSL calls are C macros over SSL_ctrl/SSL_CTX_ctrl/BIO_ctrl,
// and many constants are built from casts and shifts, which Swift cannot import. Each
// wrapper below is the one macro it is named after, with a type Swift can call.
#ifndef C_SWITCHYARD_OPENSSL_SHIM_H
#define C_SWITCHYARD_OPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

// MARK: Constants built from casts (SSL_OP_BIT) or unions of flags.

static const uint64_t SY_SSL_OP_NO_RENEGOTIATION = SSL_OP_NO_RENEGOTIATION;
static const uint64_t SY_SSL_OP_NO_COMPRESSION = SSL_OP_NO_COMPRESSION;
static const uint64_t SY_SSL_OP_NO_TICKET = SSL_OP_NO_TICKET;
static const unsigned long SY_XN_FLAG_RFC2253 = XN_FLAG_RFC2253;

// MARK: SSL_CTX macros.

static inline int sy_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline int sy_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
static inline long sy_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
static inline long sy_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static inline long sy_SSL_CTX_sess_number(SSL_CTX *ctx) {
    return SSL_CTX_sess_number(ctx);
}
/// Takes ownership of `x509` on success (1), not on failure (0).
static inline int sy_SSL_CTX_add0_chain_cert(SSL_CTX *ctx, X509 *x509) {
    return (int)SSL_CTX_add0_chain_cert(ctx, x509);
}
static inline int sy_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*callback)(SSL *, int *, void *)) {
    return (int)SSL_CTX_set_tlsext_servername_callback(ctx, callback);
}
static inline int sy_SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg) {
    return (int)SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}

// MARK: SSL macros.

static inline int sy_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

// MARK: BIO macros.

/// What a memory BIO's read returns when it is empty: -1 makes "empty" a retry, not EOF.
static inline int sy_BIO_set_mem_eof_return(BIO *bio, int value) {
    return (int)BIO_set_mem_eof_return(bio, value);
}

#endif
