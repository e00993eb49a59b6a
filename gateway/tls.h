/* TLS with OpenSSL 3: per-vhost contexts (certificate, key, chain, client
 * certificates), SNI vhost selection, ALPN, and the server handshake. */
#ifndef PT_TLS_H
#define PT_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct pt_vhost;
struct pt_diag;
struct pt_conn;

/* Builds vh->tls (reading the certificate and key and building the
 * SSL_CTX once, so every error is found at load); reports problems naming
 * the vhost and file.  Later, contexts beyond the most recently used
 * tls-context-cache are dropped and built again from the PEM bytes when a
 * handshake needs them (vhosts with host-ssl-ca keep theirs). */
int pt_tls_vhost_setup(struct pt_vhost *vh, struct pt_diag *d);
/* The same, sharing the context of one of the n vhosts before it whose
 * certificate, key, CA and TLS settings are the same. */
int pt_tls_vhost_setup_shared(struct pt_vhost *vh, struct pt_vhost *earlier, size_t n,
                              struct pt_diag *d);
void pt_tls_vhost_free(struct pt_vhost *vh);
/* vh is a listener's default: its context is where every handshake on
 * that port starts (and where its session tickets are sealed), so it is
 * never dropped.  Returns 0, or -1 (it could not be built again). */
int pt_tls_pin(struct pt_vhost *vh);
/* Whether a connection whose handshake was made for vhost old may go on
 * under nu (a reload): nothing the handshake settled changed (a renewed
 * certificate at the same path is fine), and no client certificate was
 * checked (its CA file may have changed in place). */
bool pt_tls_can_follow(const struct pt_vhost *old, const struct pt_vhost *nu);
/* "tls-context-cache": how many droppable contexts may live at once (set
 * when a configuration comes into force; default 100). */
void pt_tls_context_cache(int max);
/* How many droppable contexts are alive now (tests, status). */
size_t pt_tls_live_contexts(void);

/* A connection accepted on a TLS listener: handshake first. */
void pt_tls_accept(struct pt_conn *c);

#endif
