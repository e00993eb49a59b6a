/* TLS with OpenSSL 3: per-vhost contexts (certificate, key, chain, client
 * certificates), SNI vhost selection, ALPN, and the server handshake. */
#ifndef PT_TLS_H
#define PT_TLS_H

#include <stddef.h>

struct pt_vhost;
struct pt_diag;
struct pt_conn;

/* Builds vh->ssl_ctx; reports problems naming the vhost and file. */
int pt_tls_vhost_setup(struct pt_vhost *vh, struct pt_diag *d);
/* The same, sharing the context of one of the n vhosts before it whose
 * certificate, key, CA and TLS settings are the same. */
int pt_tls_vhost_setup_shared(struct pt_vhost *vh, struct pt_vhost *earlier, size_t n,
                              struct pt_diag *d);
void pt_tls_vhost_free(struct pt_vhost *vh);

/* A connection accepted on a TLS listener: handshake first. */
void pt_tls_accept(struct pt_conn *c);

#endif
