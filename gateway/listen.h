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

/* Opens every listening socket of conf for n workers
 * (fds[w * n_listens + i]).  An address another process listens on is
 * refused, even one that would let us join it through SO_REUSEPORT.
 * Returns 0, or -1 after logging which address failed and for which
 * vhost. */
int pt_listeners_open(const struct pt_config *conf, int n_workers, int *fds);

#endif
