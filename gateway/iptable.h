/* The per-IP table shared by every worker: per peer (pt_ip_key), the
 * connections open, the requests being processed and the requests waiting
 * for one of those slots (ip-limit-ah, in arrival order), and the request
 * rate buckets (ip-limit-rate, per vhost).
 *
 * Sharded by a hash of the key, one mutex a shard, so accepts on
 * different workers rarely meet.  Bounded: past `size` entries new peers
 * are admitted untracked (a warning, rate-limited).  An entry goes as soon
 * as nothing counts on it (a rate entry once its bucket is full again, by
 * pt_iptable_sweep). */
#ifndef PT_IPTABLE_H
#define PT_IPTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway/ipaddr.h"

/* Sets the table up (first config; later ones keep it).  size: entries. */
void pt_iptable_init(unsigned size);
void pt_iptable_free(void);

/* Connections.  open: false when the peer has `limit` already (limit 0:
 * none); *tracked tells whether a count was taken (the table may be
 * full), and close must be called exactly when it was. */
bool pt_iptable_conn_open(const struct pt_ip *key, unsigned limit, bool *tracked);
void pt_iptable_conn_close(const struct pt_ip *key);

/* A request waiting for a processing slot of its peer. */
struct pt_ipwait {
    struct pt_ipwait *next;
    struct pt_ip key;
    void (*granted)(struct pt_ipwait *w); /* called with the shard locked */
    uint8_t state;
};

enum { PT_IPWAIT_NONE, PT_IPWAIT_WAITING, PT_IPWAIT_GRANTED };

/* Takes a slot (returns 1), or queues wt (returns 0: wt->granted() is
 * called, under the table's lock, when a slot passes to it), or -1 when
 * the table is full and the request goes untracked. */
int pt_iptable_req_begin(const struct pt_ip *key, unsigned limit, struct pt_ipwait *wt);
/* A slot is given back: the longest waiter of that peer gets it. */
void pt_iptable_req_end(const struct pt_ip *key);
/* wt leaves the queue.  Returns true if it had been granted a slot in
 * the meantime (the caller then holds one and must end it). unpost runs
 * under the lock when it had, to take wt back from wherever granted()
 * put it. */
bool pt_iptable_req_cancel(struct pt_ipwait *wt, void (*unpost)(struct pt_ipwait *wt));

/* Request rate (token bucket): takes a token of bucket `scope` of the
 * peer.  Returns 0, or the seconds until one is there (rounded up). */
int pt_iptable_rate_take(const struct pt_ip *key, uint32_t scope, double rate, double burst,
                         double now);
/* Drops rate entries whose buckets are full by now. */
void pt_iptable_sweep(double now);

/* For tests and the log: entries in use. */
unsigned pt_iptable_entries(void);

#endif
