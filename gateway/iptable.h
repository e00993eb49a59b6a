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

/* A processing slot held (ip-limit-ah): where to give it back without a
 * lookup.  entry NULL: none. */
struct pt_ipslot {
    void *entry;
    uint64_t hash;
};

/* A request waiting for a processing slot of its peer. */
struct pt_ipwait {
    struct pt_ipwait *next;
    struct pt_ip key;
    struct pt_ipslot slot;    /* the one it gets */
    void (*granted)(struct pt_ipwait *w); /* called with the shard locked */
    uint8_t state;
};

enum { PT_IPWAIT_NONE, PT_IPWAIT_WAITING, PT_IPWAIT_GRANTED };

/* A request-rate bucket (ip-limit-rate) to draw on: per peer and scope
 * (the vhost), `burst` tokens refilled at `rate` a second. */
struct pt_iprate {
    uint32_t scope;
    double rate, burst, now;
};

/* A new request of the peer, under one lock: first a token of rt (when
 * given; none left: *retry_after is set to the seconds until one comes,
 * and it returns 1 with no slot taken), then a slot (when limit > 0).
 * Returns 1 with the slot taken, 0 when it must wait (wt queued:
 * wt->granted() is called, under the table's lock, when a slot passes to
 * it; with wt NULL nothing is queued and the caller asks again with one),
 * or -1 when no slot is counted (no limit, or the table is full). */
int pt_iptable_req_begin(const struct pt_ip *key, const struct pt_iprate *rt, unsigned limit,
                         struct pt_ipwait *wt, int *retry_after, struct pt_ipslot *slot);
/* A slot is given back: the longest waiter of that peer gets it. */
void pt_iptable_req_end(struct pt_ipslot *slot);
/* wt leaves the queue.  Returns true if it had been granted a slot in
 * the meantime (the caller then holds one and must end it). unpost runs
 * under the lock when it had, to take wt back from wherever granted()
 * put it. */
bool pt_iptable_req_cancel(struct pt_ipwait *wt, void (*unpost)(struct pt_ipwait *wt));

/* Drops rate entries whose buckets are full by now. */
void pt_iptable_sweep(double now);

/* For tests and the log: entries in use. */
unsigned pt_iptable_entries(void);

#endif
