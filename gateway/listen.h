/* Listening sockets: the addresses vhosts ask for, checked at load, and
 * the sockets themselves (one per worker and address, SO_REUSEPORT, so the
 * kernel spreads connections over the workers). */
#ifndef PT_LISTEN_H
#define PT_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>

struct pt_config;
struct pt_diag;
struct pt_listen;

/* "1.2.3.4:80", "[::1]:80": a listener's address, for messages. */
void pt_listen_addr_text(const struct pt_listen *l, char *buf, size_t len);

/* At load: resolves every listener's address, making an interface name
 * one listener per address it has (IPv4 and IPv6), and checks that no two
 * listeners are the same socket address under different "interface"
 * spellings (they would split one port's traffic between two
 * configurations).  Reports each problem at the vhost's position and
 * returns how many. */
int pt_listen_check(struct pt_config *conf, struct pt_diag *d);

/* For -t: warns, at the vhost's position, about each address another
 * process listens on (a start would fail there).  Returns how many. */
int pt_listen_probe(const struct pt_config *conf, struct pt_diag *d);

/* The listener of conf on l's address (and bind-iface device), or NULL. */
const struct pt_listen *pt_listen_same(const struct pt_config *conf, const struct pt_listen *l);

/* The listening sockets, owned by the main thread across snapshots: one
 * entry per address (and bind-iface device), one SO_REUSEPORT socket per
 * worker.  A reload keeps an address's very sockets (closing one would
 * drop the connections queued on it); whether its connections speak TLS
 * is the snapshot's business, not the socket's. */
struct pt_listen_registry;

struct pt_listen_registry *pt_listen_registry_new(int n_workers);

/* Finds or opens the sockets of every listener of conf, filling
 * fds[w * conf->n_listens + i].  An address another process listens on
 * is refused, even one SO_REUSEPORT would let us join.  Returns 0, or -1
 * after logging which address failed and for which vhosts (what this
 * call opened is closed again; the rest is untouched). */
int pt_listen_registry_bind(struct pt_listen_registry *reg, const struct pt_config *conf,
                            int *fds);

/* Closes the sockets conf does not use (once conf is live everywhere).
 * Returns how many addresses were closed. */
int pt_listen_registry_prune(struct pt_listen_registry *reg, const struct pt_config *conf);

/* At exit, once the workers are joined.  A worker closes its own sockets
 * as it stops (so that a new instance can bind while it drains); the
 * sockets of workers first_open.. (never started) are closed here. */
void pt_listen_registry_free(struct pt_listen_registry *reg, int first_open);

#endif
