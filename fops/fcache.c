#include "fops/fcache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#define TTL_NS 1000000000LL /* an entry is reused for one second */
#define MAX_ENTRIES 512     /* per thread, and at most 1/16 of RLIMIT_NOFILE */
#define BUCKETS 1024        /* a power of two */
#define KEEP_BYTES (4 * 1024 * 1024) /* small files' bytes kept, per thread */

struct pt_fcache_ent {
    struct pt_fcache *cache;
    struct pt_fcache_ent *hnext;             /* bucket chain */
    struct pt_fcache_ent *older, *newer;     /* LRU list */
    uint64_t root_id;
    uint32_t hash;
    unsigned refs;
    bool dead;                               /* evicted while in use */
    int fd;
    int64_t born;                            /* CLOCK_MONOTONIC_COARSE ns */
    unsigned stat_iter;                      /* loop iteration of st */
    bool stat_ok;
    struct stat st;                          /* the last fstat */
    char *data;                              /* a small file's bytes, or NULL */
    size_t data_len;
    int64_t data_mtime;                      /* ns: the stat they match */
    char path[];
};

struct pt_fcache {
    struct pt_fcache_ent *bucket[BUCKETS];
    struct pt_fcache_ent *oldest, *newest;
    unsigned n, max;
    size_t kept;             /* bytes of data held by entries */
    struct ev_loop *loop;
    ev_timer expiry;         /* running while entries exist */
};


static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint32_t hash_of(uint64_t root_id, const char *path)
{
    uint32_t h = 2166136261u ^ (uint32_t)root_id ^ (uint32_t)(root_id >> 32);
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static void lru_unlink(struct pt_fcache *c, struct pt_fcache_ent *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    e->older = e->newer = NULL;
}

static void ent_free(struct pt_fcache_ent *e)
{
    close(e->fd);
    if (e->data)
        e->cache->kept -= e->data_len;
    free(e->data);
    free(e);
}

/* Takes e out of the table; it is closed now, or by its last user. */
static void evict(struct pt_fcache *c, struct pt_fcache_ent *e)
{
    struct pt_fcache_ent **pp = &c->bucket[e->hash & (BUCKETS - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    c->n--;
    if (e->refs) {
        e->dead = true;
        return;
    }
    ent_free(e);
}

/* Closes the expired entries nobody uses; runs again while any is left. */
static void on_expiry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct pt_fcache *c = t->data;
    int64_t now = now_ns();
    for (struct pt_fcache_ent *e = c->oldest, *next; e; e = next) {
        next = e->newer;
        if (now - e->born <= TTL_NS)
            break; /* the list is oldest first */
        if (!e->refs)
            evict(c, e);
    }
    if (c->n) {
        ev_timer_set(t, 1.0, 0.);
        ev_timer_start(loop, t);
    }
}

struct pt_fcache *pt_fcache_new(struct ev_loop *loop)
{
    struct pt_fcache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->loop = loop;
    ev_timer_init(&c->expiry, on_expiry, 1.0, 0.);
    c->expiry.data = c;
    /* Cached descriptors must leave most of the limit to connections. */
    struct rlimit rl;
    c->max = MAX_ENTRIES;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur / 16 < c->max)
        c->max = (unsigned)(rl.rlim_cur / 16);
    return c;
}

int pt_fcache_get(struct pt_fcache *c, uint64_t root_id, const char *path,
                  struct stat *st, struct pt_fcache_ent **ent)
{
    uint32_t h = hash_of(root_id, path);
    for (struct pt_fcache_ent *e = c->bucket[h & (BUCKETS - 1)]; e; e = e->hnext) {
        if (e->hash != h || e->root_id != root_id || strcmp(e->path, path) != 0)
            continue;
        if (now_ns() - e->born > TTL_NS) {
            evict(c, e); /* stale: the caller opens the path afresh */
            return -1;
        }
        /* One fstat per file per loop iteration: requests read in one
         * iteration arrived together, so they share what it saw, and any
         * change made before a request was read is seen by it. */
        unsigned iter = c->loop ? ev_iteration(c->loop) : 0;
        if (!c->loop || !e->stat_ok || e->stat_iter != iter) {
            if (fstat(e->fd, &e->st) < 0 || !S_ISREG(e->st.st_mode)) {
                evict(c, e);
                return -1;
            }
            e->stat_ok = true;
            e->stat_iter = iter;
        }
        *st = e->st;
        e->refs++;
        *ent = e;
        return e->fd;
    }
    return -1;
}

struct pt_fcache_ent *pt_fcache_put(struct pt_fcache *c, uint64_t root_id,
                                    const char *path, int fd)
{
    /* Expired entries nobody uses go first (they would hold deleted files'
     * space and descriptors), then the oldest if still full. */
    int64_t now = now_ns();
    for (struct pt_fcache_ent *e = c->oldest, *next; e; e = next) {
        next = e->newer;
        if (c->n < c->max && now - e->born <= TTL_NS)
            break;
        if (!e->refs)
            evict(c, e);
    }
    if (c->n >= c->max)
        return NULL;
    size_t len = strlen(path);
    struct pt_fcache_ent *e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    memcpy(e->path, path, len + 1);
    e->cache = c;
    e->root_id = root_id;
    e->hash = hash_of(root_id, path);
    e->refs = 1;
    e->dead = false;
    e->fd = fd;
    e->born = now_ns();
    e->stat_ok = false;
    e->stat_iter = 0;
    e->data = NULL;
    e->data_len = 0;
    e->data_mtime = 0;
    /* A stale entry for the same key may still be in use: it stays until
     * its users are done, but new lookups find this one first. */
    e->hnext = c->bucket[e->hash & (BUCKETS - 1)];
    c->bucket[e->hash & (BUCKETS - 1)] = e;
    e->newer = NULL;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->n++;
    if (c->loop && !ev_is_active(&c->expiry)) {
        ev_timer_set(&c->expiry, 1.0, 0.);
        ev_timer_start(c->loop, &c->expiry);
    }
    return e;
}

ssize_t pt_fcache_read(struct pt_fcache_ent *e, uint64_t size, int64_t mtime_ns,
                       void *buf, size_t len, uint64_t off)
{
    if (!e->data || e->data_len != size || e->data_mtime != mtime_ns)
        return -1;
    if (off >= e->data_len)
        return 0;
    if (len > e->data_len - off)
        len = e->data_len - (size_t)off;
    memcpy(buf, e->data + off, len);
    return (ssize_t)len;
}

void pt_fcache_keep(struct pt_fcache_ent *e, uint64_t size, int64_t mtime_ns,
                    const void *data, size_t len)
{
    struct pt_fcache *c = e->cache;
    size_t had = e->data ? e->data_len : 0;
    if (len > PT_FCACHE_SMALL || len != size || e->dead || c->kept - had + len > KEEP_BYTES)
        return;
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, data, len);
    free(e->data);
    c->kept += len - had;
    e->data = copy;
    e->data_len = len;
    e->data_mtime = mtime_ns;
}

void pt_fcache_release(struct pt_fcache_ent *e)
{
    if (--e->refs || !e->dead)
        return;
    ent_free(e);
}

void pt_fcache_flush(struct pt_fcache *c)
{
    for (struct pt_fcache_ent *e = c ? c->oldest : NULL, *next; e; e = next) {
        next = e->newer;
        if (!e->refs)
            evict(c, e);
    }
}

void pt_fcache_free(struct pt_fcache *c)
{
    if (!c)
        return;
    if (c->loop)
        ev_timer_stop(c->loop, &c->expiry);
    while (c->oldest)
        evict(c, c->oldest);
    free(c);
}
