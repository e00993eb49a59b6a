/* Request and connection counters for the metrics and status plugins.
 *
 * Counters live per worker and only their worker writes them (a relaxed
 * load and store: a plain increment, no locked instruction, no cache line
 * shared between workers on the hot path).  A reader on any thread sums
 * every worker's copy; it may see a request counted in one series and not
 * yet in another, never a torn value.
 *
 * Series are keyed by a label id: one per (vhost, mountpoint) and one per
 * vhost for requests no mount took, interned at config load and kept for
 * the process's life, so counters go on across reloads. */
#ifndef PT_STATS_H
#define PT_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pt_req;
struct pt_config;

/* Status codes counted on their own; the others by class ("4xx"). */
#define PT_STATS_CODES 40
/* Request duration histogram: upper bounds in seconds, then +Inf. */
#define PT_STATS_BUCKETS 14
extern const double pt_stats_bounds[PT_STATS_BUCKETS];

enum pt_stats_proto { PT_STATS_H1, PT_STATS_H2, PT_STATS_PROTOS };

/* Sums over every worker, for one label id. */
struct pt_stats_series {
    uint64_t codes[PT_STATS_CODES];      /* by pt_stats_code_at() */
    uint64_t buckets[PT_STATS_BUCKETS + 1]; /* not cumulative; last: +Inf */
    uint64_t count;
    double seconds;                      /* sum of durations */
    uint64_t bytes;                      /* response body bytes */
    uint64_t bytes_in;                   /* request body bytes read */
};

/* At config load (main thread): gives every vhost and mount of c its
 * label ids.  Returns 0, or -1 when there are more than fit (logged). */
int pt_stats_label(struct pt_config *c);

/* Counts a finished request (its worker's thread). */
void pt_stats_request(const struct pt_req *r);
/* A connection of protocol p began (+1) or ended (-1) on worker id. */
void pt_stats_conn(int worker_id, enum pt_stats_proto p, int delta);
/* A TLS handshake completed on worker id. */
void pt_stats_handshake(int worker_id);

/* Upstream connection gauges, by upstream ("host:port"): an id interned
 * at config load (main thread), and changes by the worker that owns the
 * pool.  open counts connecting, busy and idle ones. */
uint32_t pt_stats_upstream_label(const char *name);
void pt_stats_upstream(int worker_id, uint32_t id, int open, int idle, int queued);

struct pt_stats_upstream {
    int64_t open, idle, queued;
};

/* ---- reading (any thread) ---- */

/* How many label ids exist; the names of one (mount "" for the vhost's
 * own series).  Names live as long as the process. */
uint32_t pt_stats_labels(void);
void pt_stats_label_names(uint32_t id, const char **vhost, const char **mount);
/* The names of ids 0..n-1 at once (one lock), into vhost[] and mount[]. */
void pt_stats_label_names_all(uint32_t n, const char **vhost, const char **mount);
/* Sums id's series over the workers into *out; false when it has none. */
bool pt_stats_read(uint32_t id, struct pt_stats_series *out);
/* The status code of a slot ("404"), or its class ("4xx"). */
const char *pt_stats_code_at(int slot);
int64_t pt_stats_conns(enum pt_stats_proto p);
/* Upstreams: how many ids, one's name, and its gauges summed. */
uint32_t pt_stats_upstreams(void);
const char *pt_stats_upstream_name(uint32_t id);
void pt_stats_upstream_read(uint32_t id, struct pt_stats_upstream *out);
uint64_t pt_stats_handshakes(void);

#endif
