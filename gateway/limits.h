/* Peer-IP limits and fair service (docs/limits.md).
 *
 *   at accept       the global ip-allow/ip-deny lists, max-connections and
 *                   ip-limit-wsi (hard: the connection is closed before any
 *                   TLS work or byte read)
 *   at dispatch     trusted-proxies (the client behind X-Forwarded-For),
 *                   the vhost's ip-allow/ip-deny (403), ip-limit-rate (429)
 *                   and ip-limit-ah (soft: the request waits for a slot of
 *                   its peer, in arrival order, and never loses one)
 *
 * The counts live in the per-IP table (gateway/iptable.c) shared by the
 * workers; a request that waits is woken on its own worker through the
 * worker's mailbox. */
#ifndef PT_LIMITS_H
#define PT_LIMITS_H

#include <stdbool.h>
#include <sys/socket.h>

struct pt_config;
struct pt_listen;
struct pt_conn;
struct pt_req;
struct pt_worker;
struct pt_ip;

/* Once, at start (main thread): the table, from the first config. */
void pt_limits_init(const struct pt_config *conf);
void pt_limits_free(void);

/* What admission took, to give back when the connection goes. */
enum { PT_LIM_COUNTED = 1, PT_LIM_TRACKED = 2 };

/* max-connections: false at the ceiling (nothing taken). */
bool pt_limits_ceiling_take(const struct pt_config *conf);
void pt_limits_ceiling_give(void);

/* The peer of a new connection on l: the global lists, then the port's
 * ip-limit-wsi.  Returns false when it must be closed (logged, counted);
 * sets PT_LIM_TRACKED in *flags when a count was taken. */
bool pt_limits_peer_admit(const struct pt_config *conf, const struct pt_listen *l,
                          const struct pt_ip *ip, unsigned *flags);

/* The connection goes: what its admission took is given back. */
void pt_limits_conn_closed(struct pt_conn *c);

/* The dispatch phase.  Returns true when the request goes on to routing;
 * false when it was answered (403, 429, 503) or waits for a slot (it
 * comes back through pt_dispatch_resume()). */
bool pt_limits_request(struct pt_req *r);
/* The request ends, however: its slot (or its place in the queue) goes. */
void pt_limits_request_done(struct pt_req *r);

/* Connections refused so far (for the log and tests). */
unsigned long pt_limits_refused(void);

#endif
