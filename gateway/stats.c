/* Per-worker request and connection counters (see stats.h). */
#include "gateway/stats.h"

#include <ev.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/request.h"
#include "gateway/worker.h"

#define MAX_WORKERS 256          /* count-threads' ceiling */
#define CHUNK 64                 /* series per allocation */
#define MAX_CHUNKS 1024          /* so at most 65536 label ids */

typedef _Atomic uint64_t counter;

struct series {
    counter codes[PT_STATS_CODES];
    counter buckets[PT_STATS_BUCKETS + 1];
    counter micros;              /* duration sum, in microseconds */
    counter bytes;
    counter bytes_in;
};

#define MAX_UPSTREAMS 4096

/* Gauges: only the owner writes, so a plain add through relaxed atomics. */
typedef _Atomic int64_t gauge;

struct useries {
    gauge open, idle, queued;
};

/* One worker's counters.  Chunks are made by the worker on first use and
 * published with a release store; readers load them with acquire. */
struct wstats {
    struct series *_Atomic chunks[MAX_CHUNKS];
    counter conns[PT_STATS_PROTOS];   /* began; ended ones are subtracted */
    counter ended[PT_STATS_PROTOS];
    counter handshakes;
    struct useries *_Atomic ups;      /* MAX_UPSTREAMS, made on first use */
};

static struct wstats *_Atomic workers[MAX_WORKERS];

const double pt_stats_bounds[PT_STATS_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

/* ---- labels --------------------------------------------------------------- */

struct label {
    char *vhost, *mount;
};

static pthread_mutex_t label_lock = PTHREAD_MUTEX_INITIALIZER;
static struct label *labels;     /* grows only at config load */
static _Atomic uint32_t n_labels;
static uint32_t cap_labels;

/* The id of (vhost, mount), made if new.  Main thread, under label_lock. */
static int intern(const char *vhost, const char *mount, uint32_t *id)
{
    uint32_t n = atomic_load(&n_labels);
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(labels[i].vhost, vhost) == 0 && strcmp(labels[i].mount, mount) == 0) {
            *id = i;
            return 0;
        }
    if (n == (uint32_t)CHUNK * MAX_CHUNKS)
        return -1;
    if (n == cap_labels) {
        /* Readers look names up under label_lock too (pt_stats_label_names),
         * so the table may move. */
        uint32_t cap = cap_labels ? cap_labels * 2 : 64;
        struct label *v = realloc(labels, cap * sizeof(*v));
        if (!v)
            abort();
        labels = v;
        cap_labels = cap;
    }
    labels[n].vhost = strdup(vhost);
    labels[n].mount = strdup(mount);
    if (!labels[n].vhost || !labels[n].mount)
        abort();
    atomic_store(&n_labels, n + 1);
    *id = n;
    return 0;
}

int pt_stats_label(struct pt_config *c)
{
    int rc = 0;
    pthread_mutex_lock(&label_lock);
    if (intern("", "", &c->stats_id) < 0)
        rc = -1;
    for (size_t i = 0; i < c->n_vhosts && rc == 0; i++) {
        struct pt_vhost *vh = &c->vhosts[i];
        const char *name = vh->name ? vh->name : "";
        if (intern(name, "", &vh->stats_id) < 0)
            rc = -1;
        for (size_t j = 0; j < vh->n_mounts && rc == 0; j++)
            if (intern(name, vh->mounts[j].mountpoint, &vh->mounts[j].stats_id) < 0)
                rc = -1;
    }
    pthread_mutex_unlock(&label_lock);
    if (rc < 0)
        pt_warn("metrics: more than %d vhost and mount series; the rest are not counted",
                CHUNK * MAX_CHUNKS);
    return rc;
}

uint32_t pt_stats_labels(void)
{
    return atomic_load(&n_labels);
}

void pt_stats_label_names(uint32_t id, const char **vhost, const char **mount)
{
    pthread_mutex_lock(&label_lock);
    *vhost = labels[id].vhost;
    *mount = labels[id].mount;
    pthread_mutex_unlock(&label_lock);
}

void pt_stats_label_names_all(uint32_t n, const char **vhost, const char **mount)
{
    pthread_mutex_lock(&label_lock);
    for (uint32_t id = 0; id < n; id++) {
        vhost[id] = labels[id].vhost;
        mount[id] = labels[id].mount;
    }
    pthread_mutex_unlock(&label_lock);
}

/* ---- upstream labels ------------------------------------------------------ */

static char *up_names[MAX_UPSTREAMS];
static _Atomic uint32_t n_ups;

uint32_t pt_stats_upstream_label(const char *name)
{
    pthread_mutex_lock(&label_lock);
    uint32_t n = atomic_load(&n_ups), id = n;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(up_names[i], name) == 0)
            id = i;
    if (id == n && n < MAX_UPSTREAMS) {
        up_names[n] = strdup(name);
        if (!up_names[n])
            abort();
        atomic_store(&n_ups, n + 1);
    } else if (id == n) {
        id = MAX_UPSTREAMS; /* full: not counted */
    }
    pthread_mutex_unlock(&label_lock);
    return id;
}

uint32_t pt_stats_upstreams(void)
{
    return atomic_load(&n_ups);
}

const char *pt_stats_upstream_name(uint32_t id)
{
    return id < atomic_load(&n_ups) ? up_names[id] : "";
}

/* ---- counting (the worker's own thread) ---------------------------------- */

static inline void bump(counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static struct wstats *own(int worker_id)
{
    if (worker_id < 0 || worker_id >= MAX_WORKERS)
        return NULL;
    struct wstats *s = atomic_load_explicit(&workers[worker_id], memory_order_acquire);
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return NULL;
        atomic_store_explicit(&workers[worker_id], s, memory_order_release);
    }
    return s;
}

static struct series *series_of(struct wstats *s, uint32_t id)
{
    uint32_t k = id / CHUNK;
    if (k >= MAX_CHUNKS)
        return NULL;
    struct series *chunk = atomic_load_explicit(&s->chunks[k], memory_order_relaxed);
    if (!chunk) {
        chunk = calloc(CHUNK, sizeof(*chunk));
        if (!chunk)
            return NULL;
        atomic_store_explicit(&s->chunks[k], chunk, memory_order_release);
    }
    return &chunk[id % CHUNK];
}

/* Status codes with a slot of their own; the rest count in their class. */
static const int16_t named_codes[] = {
    100, 101, 103, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308,
    400, 401, 403, 404, 405, 408, 409, 411, 412, 413, 414, 416, 421, 429,
    431, 500, 501, 502, 503, 504, 505,
};
#define N_NAMED (sizeof(named_codes) / sizeof(named_codes[0]))
_Static_assert(N_NAMED + 5 == PT_STATS_CODES, "code slots");

static int code_slot(int status)
{
    for (size_t i = 0; i < N_NAMED; i++)
        if (named_codes[i] == status)
            return (int)i;
    int cls = status / 100;
    return (int)N_NAMED + (cls >= 1 && cls <= 5 ? cls - 1 : 4);
}

static char code_names[N_NAMED][8];

static void name_codes(void)
{
    for (size_t i = 0; i < N_NAMED; i++)
        snprintf(code_names[i], sizeof(code_names[i]), "%d", named_codes[i]);
}

const char *pt_stats_code_at(int slot)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (slot >= (int)N_NAMED)
        return classes[slot - (int)N_NAMED];
    pthread_once(&once, name_codes);
    return code_names[slot];
}

void pt_stats_request(const struct pt_req *r)
{
    struct wstats *s = r->worker ? own(r->worker->id) : NULL;
    if (!s)
        return;
    uint32_t id = r->mount ? r->mount->stats_id
                : r->vhost ? r->vhost->stats_id
                : r->conf ? r->conf->stats_id : 0;
    struct series *se = series_of(s, id);
    if (!se)
        return;
    double secs = ev_time() - r->start;
    if (secs < 0 || r->start == 0)
        secs = 0;
    int b = 0;
    while (b < PT_STATS_BUCKETS && secs > pt_stats_bounds[b])
        b++;
    bump(&se->codes[code_slot(r->status)], 1);
    bump(&se->buckets[b], 1);
    bump(&se->micros, (uint64_t)(secs * 1e6));
    bump(&se->bytes, r->bytes_sent);
    if (r->bytes_received)
        bump(&se->bytes_in, r->bytes_received);
}

void pt_stats_conn(int worker_id, enum pt_stats_proto p, int delta)
{
    struct wstats *s = own(worker_id);
    if (s)
        bump(delta > 0 ? &s->conns[p] : &s->ended[p], 1);
}

static inline void move(gauge *g, int delta)
{
    atomic_store_explicit(g, atomic_load_explicit(g, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

void pt_stats_upstream(int worker_id, uint32_t id, int open, int idle, int queued)
{
    struct wstats *s = own(worker_id);
    if (!s || id >= MAX_UPSTREAMS)
        return;
    struct useries *ups = atomic_load_explicit(&s->ups, memory_order_relaxed);
    if (!ups) {
        ups = calloc(MAX_UPSTREAMS, sizeof(*ups));
        if (!ups)
            return;
        atomic_store_explicit(&s->ups, ups, memory_order_release);
    }
    move(&ups[id].open, open);
    move(&ups[id].idle, idle);
    move(&ups[id].queued, queued);
}

void pt_stats_handshake(int worker_id)
{
    struct wstats *s = own(worker_id);
    if (s)
        bump(&s->handshakes, 1);
}

/* ---- reading -------------------------------------------------------------- */

static inline uint64_t get(counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

bool pt_stats_read(uint32_t id, struct pt_stats_series *out)
{
    memset(out, 0, sizeof(*out));
    bool any = false;
    uint64_t micros = 0;
    for (int w = 0; w < MAX_WORKERS; w++) {
        struct wstats *s = atomic_load_explicit(&workers[w], memory_order_acquire);
        if (!s || id / CHUNK >= MAX_CHUNKS)
            continue;
        struct series *chunk = atomic_load_explicit(&s->chunks[id / CHUNK], memory_order_acquire);
        if (!chunk)
            continue;
        struct series *se = &chunk[id % CHUNK];
        for (int i = 0; i < PT_STATS_CODES; i++)
            out->codes[i] += get(&se->codes[i]);
        for (int i = 0; i <= PT_STATS_BUCKETS; i++) {
            uint64_t n = get(&se->buckets[i]);
            out->buckets[i] += n;
            out->count += n;
        }
        micros += get(&se->micros);
        out->bytes += get(&se->bytes);
        out->bytes_in += get(&se->bytes_in);
        any = true;
    }
    out->seconds = (double)micros / 1e6;
    return any && out->count > 0;
}

int64_t pt_stats_conns(enum pt_stats_proto p)
{
    int64_t n = 0;
    for (int w = 0; w < MAX_WORKERS; w++) {
        struct wstats *s = atomic_load_explicit(&workers[w], memory_order_acquire);
        if (s)
            n += (int64_t)get(&s->conns[p]) - (int64_t)get(&s->ended[p]);
    }
    return n;
}

void pt_stats_upstream_read(uint32_t id, struct pt_stats_upstream *out)
{
    memset(out, 0, sizeof(*out));
    for (int w = 0; w < MAX_WORKERS && id < MAX_UPSTREAMS; w++) {
        struct wstats *s = atomic_load_explicit(&workers[w], memory_order_acquire);
        struct useries *ups = s ? atomic_load_explicit(&s->ups, memory_order_acquire) : NULL;
        if (!ups)
            continue;
        out->open += atomic_load_explicit(&ups[id].open, memory_order_relaxed);
        out->idle += atomic_load_explicit(&ups[id].idle, memory_order_relaxed);
        out->queued += atomic_load_explicit(&ups[id].queued, memory_order_relaxed);
    }
}

uint64_t pt_stats_handshakes(void)
{
    uint64_t n = 0;
    for (int w = 0; w < MAX_WORKERS; w++) {
        struct wstats *s = atomic_load_explicit(&workers[w], memory_order_acquire);
        if (s)
            n += get(&s->handshakes);
    }
    return n;
}
