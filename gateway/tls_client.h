/* TLS to backends: client contexts shared by their settings, and the
 * client handshake on an outgoing transport.
 *
 * Every mount and vhost whose client settings are equal shares one
 * refcounted SSL_CTX, found by a SHA-256 of the settings: a hundred mounts
 * proxying to TLS backends load the CA bundle once.  A context is made
 * when first asked for and freed when its last user lets it go (at config
 * load and retire, on the main thread). */
#ifndef PT_TLS_CLIENT_H
#define PT_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct pt_conn;
struct pt_srcpos;
struct pt_diag;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_session_st SSL_SESSION;

struct pt_tls_client_opts {
    const char *ca;          /* PEM CA file; NULL: the system's store */
    const char *cert, *key;  /* client certificate and key, or NULL */
    const char *ciphers;     /* TLS 1.2 list, or NULL for the default */
    bool insecure;           /* no verification at all */
};

struct pt_tls_client_ctx;

/* The shared context for o (a reference taken), or NULL after reporting
 * at pos why it cannot be made. */
struct pt_tls_client_ctx *pt_tls_client_get(const struct pt_tls_client_opts *o,
                                            struct pt_diag *d, const struct pt_srcpos *pos);
void pt_tls_client_put(struct pt_tls_client_ctx *cc);
/* How many distinct contexts exist now (status, tests). */
size_t pt_tls_client_count(void);

/* Starts the client handshake on a connected transport: SNI and the
 * name checked against the certificate are host (unless insecure); alpn
 * in wire format or NULL.  *session (if set) is offered for resumption,
 * and each new session the server gives (TLS 1.3 sends them after the
 * handshake) replaces it there: the caller keeps one per upstream, and
 * frees the last with SSL_SESSION_free.  Returns 0, or -1 (out of
 * memory). */
int pt_tls_client_start(struct pt_conn *c, struct pt_tls_client_ctx *cc, const char *host,
                        const unsigned char *alpn, size_t alpn_len, SSL_SESSION **session);

/* Drives the handshake: 1 done, 0 in progress (events set), -1 failed
 * (why[0..size) says why: verification, protocol, reset). */
int pt_tls_client_step(struct pt_conn *c, char *why, size_t size);

#endif
